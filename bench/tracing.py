"""The cost of tracing: deal reviews with OpenTelemetry on (file exporter) vs off.

Same engine settings, same deals, on the embedded DuckDB defaults. "Off" is the engine
with no telemetry configured (the OpenTelemetry API is a no-op); "on" configures the SDK
with the local JSON-lines span exporter, as `sophia run` does. Rounds alternate so that
noise on this shared machine hits both sides alike.

    uv run python -m bench.tracing [--quick]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import BenchRow, main
from graphs import Engine
from stores.demo import data as demo_data
from stores.settings import Settings

SCALE = 0.2


async def _round(settings: Settings, traced: bool, reviews: list[list[str]]) -> list[float]:
    times: list[float] = []
    async with Engine(settings, configure_telemetry=traced) as engine:
        for ids in reviews:
            started = time.perf_counter()
            await engine.invoke("deal_review", {"deal_ids": ids})
            times.append((time.perf_counter() - started) * 1000)
    return times


async def run(quick: bool) -> list[BenchRow]:
    """p50 run time with tracing off (naive column) and on (engine column)."""
    rounds, per_round = (2, 15) if quick else (6, 40)
    sizes = demo_data.DemoSizes().scaled(SCALE)
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        demo_data.write_duckdb(path, demo_data.generate(sizes))
        settings = Settings(
            data_dir=Path(tmp) / "data",
            redis_url=None,
            warehouse_url=f"duckdb:///{str(path).lstrip('/')}",
        )
        off: list[float] = []
        on: list[float] = []
        for _ in range(rounds):
            reviews = [
                [f"D-{rng.randint(1, sizes.deals):05d}" for _ in range(5)] for _ in range(per_round)
            ]
            off += await _round(settings, False, reviews)
            on += await _round(settings, True, [list(r) for r in reviews])
    p_off, p_on = statistics.median(off), statistics.median(on)
    overhead = (p_on / p_off - 1) * 100
    return [
        BenchRow(
            "deal review p50, tracing off vs on", p_off, p_on, "ms", "overhead < 5%", overhead < 5
        ),
        BenchRow("tracing overhead", float("nan"), overhead, "%", "< 5%", overhead < 5),
    ]


if __name__ == "__main__":
    main(run, "tracing: deal review with tracing off vs on")
