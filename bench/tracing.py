"""The cost of tracing: deal reviews with OpenTelemetry on vs off.

Same engine settings, same deals, on the embedded DuckDB defaults. "Off" is an engine in
a process where no OpenTelemetry SDK was ever configured (the API is a no-op for spans and
metrics alike); "on" configures the SDK as `sophia run` does: the local JSON-lines span
file plus the Prometheus reader of ``/metrics``. Each round runs in a fresh process (once
the SDK's global meter provider is installed it cannot be removed, which would charge the
"off" side for metrics), rounds alternate, and each round warms up before it is timed.

    uv run python -m bench.tracing [--quick]
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BenchRow, main

SCALE = 0.2
WARMUP = 10


async def _round(settings_json: str, traced: bool, reviews: list[list[str]]) -> list[float]:
    from graphs import Engine
    from stores.settings import Settings

    settings = Settings.model_validate_json(settings_json)
    times: list[float] = []
    async with Engine(settings, configure_telemetry=traced) as engine:
        for ids in reviews[:WARMUP]:
            await engine.invoke("deal_review", {"deal_ids": ids})
        for ids in reviews[WARMUP:]:
            started = time.perf_counter()
            await engine.invoke("deal_review", {"deal_ids": ids})
            times.append((time.perf_counter() - started) * 1000)
    return times


def _one_round(settings_json: str, traced: bool, reviews: list[list[str]]) -> list[float]:
    """One round in a fresh process (see the module docstring)."""
    payload = json.dumps({"settings": settings_json, "traced": traced, "reviews": reviews})
    done = subprocess.run(
        [sys.executable, "-m", "bench.tracing", "--round"],
        input=payload, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    times: list[float] = json.loads(done.stdout.strip().splitlines()[-1])
    return times


async def run(quick: bool) -> list[BenchRow]:
    """p50 run time with tracing off (naive column) and on (engine column)."""
    from stores.demo import data as demo_data
    from stores.settings import Settings

    rounds, per_round = (2, 20) if quick else (6, 60)
    sizes = demo_data.DemoSizes().scaled(SCALE)
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        demo_data.write_duckdb(path, demo_data.generate(sizes))
        settings = Settings(
            data_dir=Path(tmp) / "data",
            redis_url=None,
            warehouse_url=f"duckdb:///{str(path).lstrip('/')}",
        ).model_dump_json()
        off: list[float] = []
        on: list[float] = []
        for i in range(rounds):
            reviews = [
                [f"D-{rng.randint(1, sizes.deals):05d}" for _ in range(5)]
                for _ in range(per_round + WARMUP)
            ]
            order = (False, True) if i % 2 == 0 else (True, False)  # ABBA
            for traced in order:
                (on if traced else off).extend(
                    await asyncio.to_thread(_one_round, settings, traced, reviews)
                )
    p_off, p_on = statistics.median(off), statistics.median(on)
    overhead = (p_on / p_off - 1) * 100
    return [
        BenchRow(
            "deal review p50, tracing off vs on", p_off, p_on, "ms", "overhead < 5%", overhead < 5
        ),
        BenchRow("tracing overhead", float("nan"), overhead, "%", "< 5%", overhead < 5),
    ]


if __name__ == "__main__":
    if "--round" in sys.argv:
        job = json.loads(sys.stdin.read())
        result = asyncio.run(_round(job["settings"], job["traced"], job["reviews"]))
        print(json.dumps(result))
    else:
        main(run, "tracing: deal review with tracing off vs on")
