"""No breaker (the old platform) vs the engine's guard, against a hanging warehouse emulator.

The emulator (the real snowflake connector over HTTP to fakesnow, default latencies: login
300 ms, statement 40 ms) is made to hang with ``fail("hang")``.

- Naive side: a `Warehouse` without a guard, as the old services called the warehouse:
  every call while the warehouse hangs waits for its timeout.
- Engine side: the same `Warehouse` with the ``"warehouse"`` guard of a
  `ResilienceRegistry` (default breaker: 50% failures over 20 calls, at least 5; open
  5 s, doubling up to 20 s). Once the breaker is open, calls fail fast.

Measured: the latency of one call while the warehouse is down, both ways; how many calls
the engine let through before it opened; and the time from the warehouse's recovery to
the first successful call, with the default settings (a client retrying every 100 ms).
The per-attempt timeout is shortened (see ``TIMEOUT_S``) so the naive side finishes in
seconds; it does not change the engine's fail-fast latency.

    uv run python -m bench.resilience [--quick]
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from typing import Any

import pyarrow as pa

from bench.common import BenchRow, main
from stores.breaker import BreakerState
from stores.emulator import WarehouseEmulator
from stores.resilience import DEFAULT_GUARDS, GuardSettings, ResilienceRegistry
from stores.retry import caused_by_open_breaker
from stores.warehouse import Warehouse

SQL = "SELECT deal_id, amount FROM deals WHERE deal_id = ?"
TIMEOUT_S = 2.0


def _deals() -> pa.Table:
    return pa.table({"deal_id": [f"D{i:04d}" for i in range(100)], "amount": list(range(100))})


async def _timed_failure_ms(wh: Warehouse) -> tuple[float, BaseException | None]:
    started = time.perf_counter()
    try:
        await wh.query(SQL, ("D0001",))
    except Exception as exc:
        return (time.perf_counter() - started) * 1000, exc
    return (time.perf_counter() - started) * 1000, None


async def _naive_down_ms(emu: WarehouseEmulator, calls: int) -> float:
    """Median latency of a call to the hanging warehouse without a breaker."""
    async with Warehouse.open(
        emu.url,
        min_size=1,
        max_size=calls,
        query_timeout_s=TIMEOUT_S,
        acquire_timeout_s=TIMEOUT_S,  # a hanging login would otherwise wait 10 s
        close_timeout_s=1.0,
    ) as wh:
        await wh.query(SQL, ("D0001",))
        emu.fail("hang")
        try:
            results = await asyncio.gather(*(_timed_failure_ms(wh) for _ in range(calls)))
        finally:
            emu.recover()
    return statistics.median(ms for ms, _ in results)


async def _engine(emu: WarehouseEmulator, fast_calls: int, rng: random.Random) -> dict[str, Any]:
    base = DEFAULT_GUARDS["warehouse"]
    registry = ResilienceRegistry({"warehouse": GuardSettings(base.breaker, base.retry, TIMEOUT_S)})
    guard = registry.guard("warehouse")
    out: dict[str, Any] = {}
    async with Warehouse.open(
        emu.url,
        min_size=1,
        max_size=4,
        guard=guard,
        close_timeout_s=1.0,
    ) as wh:
        await wh.query(SQL, ("D0001",))
        emu.fail("hang")
        try:
            started = time.perf_counter()
            while guard.breaker.state is not BreakerState.OPEN:
                await asyncio.gather(*(_timed_failure_ms(wh) for _ in range(4)))
            out["open_after_s"] = time.perf_counter() - started
            out["attempts_before_open"] = guard.stats()["attempts"]
            latencies = []
            for _ in range(fast_calls):
                ms, exc = await _timed_failure_ms(wh)
                if exc is None or not caused_by_open_breaker(exc):
                    raise RuntimeError(f"expected a fail-fast rejection, got {exc!r}")
                latencies.append(ms)
            out["fast_ms"] = statistics.median(latencies)
            out["fast_p99_ms"] = sorted(latencies)[int(len(latencies) * 0.99) - 1]
            # Recover at a random moment of the open wait, as a real outage would end.
            await asyncio.sleep(rng.uniform(0.0, guard.breaker.stats()["retry_after_s"]))
        finally:
            emu.recover()
        recovered = time.perf_counter()
        while True:
            _, exc = await _timed_failure_ms(wh)
            if exc is None:
                break
            await asyncio.sleep(0.1)
        out["recovery_s"] = time.perf_counter() - recovered
        out["max_open_wait_s"] = base.breaker.max_open_wait_s
    return out


async def run(quick: bool) -> list[BenchRow]:
    """Fail-fast latency and recovery time, naive vs engine; one row per metric."""
    rng = random.Random(7)
    naive_calls = 3 if quick else 8
    fast_calls = 200 if quick else 2000
    async with WarehouseEmulator(data={"deals": _deals()}) as emu:
        naive_ms = await _naive_down_ms(emu, naive_calls)
        engine = await _engine(emu, fast_calls, rng)
    fast = engine["fast_ms"]
    return [
        BenchRow(
            f"call while warehouse down (timeout {TIMEOUT_S:g}s)",
            naive_ms,
            fast,
            "ms",
            "fail fast < 1 ms",
            met=fast < 1.0,
        ),
        BenchRow("  p99 of the fail-fast calls", math.nan, engine["fast_p99_ms"], "ms"),
        BenchRow(
            "time until the breaker opened",
            math.nan,
            engine["open_after_s"],
            "s",
            f"attempts let through: {engine['attempts_before_open']}",
        ),
        BenchRow(
            "recovery -> first success (defaults)",
            math.nan,
            engine["recovery_s"],
            "s",
            f"< 30 s (worst case: cap {engine['max_open_wait_s']:g} s + one call)",
            met=engine["recovery_s"] < 30.0,
        ),
    ]


if __name__ == "__main__":
    main(run, "Resilience: no breaker vs guard, hanging warehouse emulator")
