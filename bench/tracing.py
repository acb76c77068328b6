"""The cost of tracing: deal reviews with OpenTelemetry on vs off.

Same engine settings, same deals, on the embedded DuckDB defaults. "Off" is an engine in
a process where no OpenTelemetry SDK was ever configured (the API is a no-op for spans and
metrics alike); "on" configures the SDK as `sophia serve` does: the local JSON-lines span
file plus the Prometheus reader of ``/metrics``; both open the engine as the server does
(``SOPHIA_GC_FREEZE``: the heap after opening is frozen). Each side is a process of its
own (once the SDK's global meter provider is installed it cannot be removed, which would
charge the "off" side for metrics).

This machine's speed drifts by 10-30% over minutes (other guests on the host), more than
the cost measured, so the two processes run *at once* and take turns: each opens its
engine and warms up, then the driver has them run the same batch of reviews one after
the other (the idle one waits on its pipe, using nothing), alternating which goes first,
for many short turns. Both sides see the same drift. A few pairs of fresh processes
average out what one process's layout does to its speed.

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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from bench.common import BenchRow, main

SCALE = 0.2
WARMUP = 10
BATCH = 5
"""Reviews per turn: short turns (~0.1 s), so the two sides see the same machine."""


async def _serve(settings_json: str, traced: bool) -> None:
    """One side: open the engine, then run each batch of reviews read from stdin, answering
    with their times (ms) as a JSON line; an empty line ends it."""
    from graphs import Engine
    from stores.settings import Settings

    settings = Settings.model_validate_json(settings_json)
    # As `sophia serve` and the workers open theirs, where reviews run one after another.
    async with Engine(
        settings, configure_telemetry=traced, freeze_gc=settings.gc_freeze
    ) as engine:
        print("ready", flush=True)
        for line in sys.stdin:
            if not line.strip():
                break
            times: list[float] = []
            for ids in json.loads(line):
                started = time.perf_counter()
                await engine.invoke("deal_review", {"deal_ids": ids})
                times.append((time.perf_counter() - started) * 1000)
            print(json.dumps(times), flush=True)


class _Side:
    """A serving process of one side and the times it measured."""

    def __init__(self, settings_json: str, traced: bool) -> None:
        self.traced = traced
        self.times: list[float] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.tracing", "--serve", "on" if traced else "off"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(settings_json + "\n")
            self.process.stdin.flush()
            self._expect("ready")
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise

    def _expect(self, word: str) -> str:
        out: IO[str] | None = self.process.stdout
        line = out.readline() if out is not None else ""
        if not line:
            raise RuntimeError(f"the {'traced' if self.traced else 'untraced'} side exited "
                               f"(code {self.process.wait()})")  # fmt: skip
        if word and line.strip() != word:
            raise RuntimeError(f"unexpected answer from a side: {line[:200]!r}")
        return line

    def run(self, reviews: list[list[str]], *, keep: bool = True) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(reviews) + "\n")
        self.process.stdin.flush()
        times = json.loads(self._expect(""))
        if keep:
            self.times.extend(times)

    def close(self) -> None:
        if self.process.stdin is not None and self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def _pair(settings_json: str) -> Iterator[tuple[_Side, _Side]]:
    with ExitStack() as stack:
        sides = []
        for traced in (False, True):
            side = _Side(settings_json, traced)
            stack.callback(side.close)
            sides.append(side)
        yield sides[0], sides[1]


def _measure_pair(
    settings_json: str, turns: int, deals: int, seed: int
) -> tuple[list[float], list[float]]:
    """One pair of processes taking `turns` turns each; (off times, on times)."""
    rng = random.Random(seed)

    def batch() -> list[list[str]]:
        return [[f"D-{rng.randint(1, deals):05d}" for _ in range(5)] for _ in range(BATCH)]

    with _pair(settings_json) as (off, on):
        warmup = [batch() for _ in range(WARMUP // BATCH)]
        for side in (off, on):
            for reviews in warmup:
                side.run(reviews, keep=False)
        for turn in range(turns):
            reviews = batch()
            first, second = (off, on) if turn % 4 in (0, 3) else (on, off)  # ABBA
            first.run(reviews)
            second.run(reviews)
        return off.times, on.times


async def run(quick: bool) -> list[BenchRow]:
    """p50 run time with tracing off (naive column) and on (engine column)."""
    from stores.demo import data as demo_data
    from stores.settings import Settings

    pairs, turns = (1, 30) if quick else (4, 120)  # quick: a smoke test (CI)
    sizes = demo_data.DemoSizes().scaled(SCALE)
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
        for seed in range(pairs):
            got = await asyncio.to_thread(_measure_pair, settings, turns, sizes.deals, seed)
            off.extend(got[0])
            on.extend(got[1])
    p_off, p_on = statistics.median(off), statistics.median(on)
    overhead = (p_on / p_off - 1) * 100
    return [
        BenchRow(
            "deal review p50, tracing off vs on", p_off, p_on, "ms", "overhead < 5%", overhead < 5
        ),
        BenchRow("tracing overhead", float("nan"), overhead, "%", "< 5%", overhead < 5),
    ]


def _side_main(argv: list[str]) -> None:
    settings_json = sys.stdin.readline()
    asyncio.run(_serve(settings_json, argv[argv.index("--serve") + 1] == "on"))


if __name__ == "__main__":
    if "--serve" in sys.argv:
        _side_main(sys.argv)
    else:
        main(run, "tracing: deal review with tracing off vs on")
