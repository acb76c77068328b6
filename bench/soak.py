"""A bounded soak: concurrent deal reviews through the Engine while faults come and go.

The Engine runs against the warehouse emulator (the real Snowflake connector over HTTP
to fakesnow, default latencies: login 300 ms, statement 40 ms) with demo data, and a
real redis-server this bench starts on a free loopback port. Every setting is the
engine's default. Workers submit reviews of random deals back to back while a fault
injector picks, at random, one fault at a time with quiet spells in between:

- ``redis_down``: the redis-server is stopped, then started again (empty);
- ``warehouse_error`` / ``warehouse_hang``: the emulator answers HTTP 503 / never answers;
- ``warehouse_slow``: statements take 400 ms instead of 40 ms;
- ``cache_flush``: the ``queries`` namespace is cleared (cold cache: the warehouse is hit).

Every submitted run is accounted for: *completed* (no errors), *partial* (the result
names what failed), *failed* (invoke raised; the error is counted by type) or *lost*
(neither returned nor raised within a drain period after the soak: must be none).

    uv run python -m bench.soak [--quick]     # 10 minutes at most; --quick: 60 s
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import BenchRow, main
from stores.demo import data as demo_data
from stores.demo.emulator import WarehouseEmulator
from stores.demo.local_redis import LocalRedis
from stores.settings import Settings

FULL_S = 600.0
QUICK_S = 60.0
WORKERS = 8
DRAIN_S = 90.0  # after the soak, how long submitted runs may take to return
FAULTS = ("redis_down", "warehouse_error", "warehouse_hang", "warehouse_slow", "cache_flush")


@contextlib.contextmanager
def redis_process(workdir: Path) -> Iterator[LocalRedis]:
    """A started `LocalRedis`, stopped on exit."""
    with LocalRedis(workdir) as server:
        yield server


@dataclass
class Ledger:
    """Every run submitted and how it ended."""

    submitted: int = 0
    completed: int = 0
    partial: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    raised: Counter[str] = field(default_factory=Counter)

    async def run(self, engine: Any, deal_ids: list[str]) -> None:
        """Invoke one review and record its outcome (never raises an Exception)."""
        self.submitted += 1
        started = time.perf_counter()
        try:
            result = await engine.invoke("deal_review", {"deal_ids": deal_ids})
        except Exception as exc:
            self.failed += 1
            self.raised[type(exc).__name__] += 1
            return
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if result["errors"]:
            self.partial += 1
            self.errors.update(e["error"] for e in result["errors"])
        else:
            self.completed += 1


async def _worker(
    engine: Any, ledger: Ledger, deals: list[str], rng: random.Random, until: float
) -> None:
    while time.monotonic() < until:
        await ledger.run(engine, rng.sample(deals, rng.randint(1, 3)))


async def _inject(
    engine: Any,
    emu: WarehouseEmulator,
    redis: LocalRedis,
    rng: random.Random,
    until: float,
    injected: Counter[str],
) -> None:
    """One random fault at a time with 2-6 s of quiet between them. Redis and slowness
    last 2-10 s; a warehouse outage 5-30 s (a short one is absorbed by the connector's own
    retries and the timeouts, a long one opens the breaker)."""
    while time.monotonic() < until - 15:
        await asyncio.sleep(rng.uniform(2.0, 6.0))
        fault = rng.choice(FAULTS)
        injected[fault] += 1
        outage = fault in ("warehouse_error", "warehouse_hang")
        held = rng.uniform(5.0, 30.0) if outage else rng.uniform(2.0, 10.0)
        if fault == "cache_flush":
            await engine.resources.cache.clear("queries")
            continue
        try:
            if fault == "redis_down":
                await asyncio.to_thread(redis.stop)
            elif fault == "warehouse_slow":
                emu.set_latency(query_ms=400)
            else:
                emu.fail("error" if fault == "warehouse_error" else "hang")
            await asyncio.sleep(min(held, max(0.0, until - time.monotonic())))
        finally:
            emu.recover()
            emu.set_latency(query_ms=40)
            if redis.process is None:
                await asyncio.to_thread(redis.start)


async def _soak(duration_s: float, seed: int = 11) -> dict[str, Any]:
    from graphs.engine.engine import Engine

    rng = random.Random(seed)
    data = demo_data.generate(demo_data.DemoSizes().scaled(0.05))
    deals = [str(d) for d in data["hubspot_deals"].column("deal_id").to_pylist()]
    ledger = Ledger()
    injected: Counter[str] = Counter()
    transitions: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="sophia-soak-") as tmp:
        root = Path(tmp)
        (root / "redis").mkdir()
        with (
            WarehouseEmulator(data=data) as emu,
            redis_process(root / "redis") as redis,
        ):
            settings = Settings(
                data_dir=root / "data", warehouse_url=emu.url, redis_url=redis.url,
                trace_file=False,
            )  # fmt: skip
            async with Engine(settings, configure_telemetry=False) as engine:
                assert engine.guards is not None
                engine.guards.add_listener(lambda n, _o, new: transitions.update([f"{n}:{new}"]))
                started = time.monotonic()
                until = started + duration_s
                runs = [
                    asyncio.create_task(_worker(engine, ledger, deals, random.Random(i), until))
                    for i in range(WORKERS)
                ]
                injector = asyncio.create_task(_inject(engine, emu, redis, rng, until, injected))
                _done, pending = await asyncio.wait(runs, timeout=duration_s + DRAIN_S)
                for task in pending:  # a run that never came back: lost
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                injector.cancel()
                await asyncio.gather(injector, return_exceptions=True)
                emu.recover()
                elapsed = time.monotonic() - started
                breakers = engine.guards.stats()
    accounted = ledger.completed + ledger.partial + ledger.failed
    return {
        "ledger": ledger,
        "lost": ledger.submitted - accounted,
        "injected": injected,
        "transitions": transitions,
        "elapsed_s": elapsed,
        "breakers": breakers,
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(quick: bool, duration_s: float | None = None) -> list[BenchRow]:
    """Soak for ``duration_s`` (default 600 s, ``quick`` 60 s; at most 600 s); one row per
    figure: runs submitted, completed, partial, failed, lost, faults, breaker opens."""
    duration = min(FULL_S, duration_s or (QUICK_S if quick else FULL_S))
    # Thousands of partial runs by design: keep their per-node warnings out of the table.
    quiet = [logging.getLogger(n) for n in ("nodes.isolation", "stores.cache.l2")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        out = await _soak(duration)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    ledger: Ledger = out["ledger"]
    nan = math.nan
    opens = {n: out["transitions"][f"{n}:open"] for n in ("warehouse", "redis")}
    short = {"redis_down": "redis", "warehouse_error": "503", "warehouse_hang": "hang",
             "warehouse_slow": "slow", "cache_flush": "flush"}  # fmt: skip
    faults = ", ".join(f"{short[k]} {v}" for k, v in sorted(out["injected"].items()))
    errors = ", ".join(
        f"{k.removesuffix('Error')} {v}" for k, v in ledger.errors.most_common(4)
    )  # node error entries by type (a run may have several)
    raised = ", ".join(f"{k} {v}" for k, v in ledger.raised.most_common(4)) or "none"
    return [
        BenchRow(f"runs submitted in {out['elapsed_s']:.0f} s", nan, ledger.submitted, "runs",
                 f"{WORKERS} concurrent workers"),
        BenchRow("  completed (no errors)", nan, ledger.completed, "runs"),
        BenchRow("  partial (errors named in result)", nan, ledger.partial, "runs",
                 f"entries: {errors}"),
        BenchRow("  failed (invoke raised a named error)", nan, ledger.failed, "runs",
                 raised),
        BenchRow("  lost (no result, no error)", nan, out["lost"], "runs", "none",
                 met=out["lost"] == 0),
        BenchRow("faults injected", nan, sum(out["injected"].values()), "faults", faults),
        BenchRow("breaker opens: warehouse / redis", nan, opens["warehouse"], "opens",
                 f"redis: {opens['redis']}"),
        BenchRow("run latency p50", nan, _percentile(ledger.latencies_ms, 0.5), "ms"),
        BenchRow("run latency p99", nan, _percentile(ledger.latencies_ms, 0.99), "ms"),
    ]  # fmt: skip


if __name__ == "__main__":
    main(run, "Soak: concurrent deal reviews with random faults (Engine, emulator, Redis)")
