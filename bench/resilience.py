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
the first successful call (a client retrying every 100 ms). For those, the per-attempt
timeout is shortened (see ``TIMEOUT_S``) so the naive side finishes in seconds; it does
not change the engine's fail-fast latency.

Recovery with the defaults (`_recovery_with_defaults`): nothing shortened. The guard is
the engine's (``ResilienceRegistry.from_settings(Settings())``: 10 s per attempt, half
the node timeout; 3 attempts; breaker open 5 s doubling to a 20 s cap) and the pool has
the default sizes and timeouts. Eight clients query every 100 ms while the emulator answers HTTP 503
(``fail("error")``; the connector gives up on a 503 after the emulator's default 10 s
client timeout). "Normal service" is the breaker closed again *and* a client's call
succeeding; the time is measured from ``emu.recover()``.

- short outage: the warehouse returns at a random moment of the first open wait (5 s);
- long outage (full run only): failed trials have grown the open wait to its 20 s cap,
  and the warehouse returns just after the breaker re-opened: the worst case.

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
from stores.demo.emulator import WarehouseEmulator
from stores.resilience.breaker import BreakerState
from stores.resilience.guards import DEFAULT_GUARDS, GuardSettings, ResilienceRegistry
from stores.resilience.retry import caused_by_open_breaker
from stores.settings import Settings
from stores.warehouse.warehouse import Warehouse

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


async def _client(wh: Warehouse, stop: asyncio.Event, successes: list[float]) -> None:
    """Query every 100 ms until ``stop``; record when calls succeed."""
    while not stop.is_set():
        _, exc = await _timed_failure_ms(wh)
        if exc is None:
            successes.append(time.monotonic())
        await asyncio.sleep(0.1)


async def _recovery_with_defaults(
    emu: WarehouseEmulator, rng: random.Random, long_outage: bool
) -> dict[str, float]:
    """Seconds from the warehouse's return to normal service, with the engine's defaults."""
    settings = Settings()
    registry = ResilienceRegistry.from_settings(settings)
    guard = registry.guard("warehouse")
    breaker = guard.breaker
    closed_at: list[float] = []
    registry.add_listener(
        lambda _n, _o, new: closed_at.append(time.monotonic()) if new == "closed" else None
    )
    stop = asyncio.Event()
    successes: list[float] = []
    out: dict[str, float] = {}
    async with Warehouse.open(
        emu.url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        acquire_timeout_s=settings.pool_acquire_timeout_s,
        query_timeout_s=settings.query_timeout_s,
        guard=guard,
    ) as wh:
        clients = [asyncio.create_task(_client(wh, stop, successes)) for _ in range(8)]
        try:
            await asyncio.sleep(0.5)
            emu.fail("error")
            outage = time.monotonic()
            cap = breaker.settings.max_open_wait_s
            while True:
                await asyncio.sleep(0.05)
                st = breaker.stats()
                if st["state"] != "open":
                    continue
                if not long_outage:
                    await asyncio.sleep(rng.uniform(0.0, st["retry_after_s"]))
                    break
                if st["open_wait_s"] >= cap and st["retry_after_s"] >= cap - 0.5:
                    break  # just re-opened at the cap: the worst moment to come back
            out["outage_s"] = time.monotonic() - outage
            out["open_wait_s"] = breaker.stats()["open_wait_s"]
            emu.recover()
            back = time.monotonic()

            def normal() -> bool:  # closed since the return, and a call succeeded since
                closed = bool(closed_at) and closed_at[-1] >= back
                return closed and bool(successes) and successes[-1] >= closed_at[-1]

            while not normal():
                if time.monotonic() - back > 120:
                    raise RuntimeError(f"no normal service 120 s after recovery: {breaker.stats()}")
                await asyncio.sleep(0.02)
            out["first_success_s"] = min(t for t in successes if t >= back) - back
            out["normal_s"] = max(closed_at[-1], successes[-1]) - back
        finally:
            stop.set()
            emu.recover()
            await asyncio.gather(*clients, return_exceptions=True)
    return out


async def run(quick: bool) -> list[BenchRow]:
    """Fail-fast latency and recovery time, naive vs engine; one row per metric."""
    rng = random.Random(7)
    naive_calls = 3 if quick else 8
    fast_calls = 200 if quick else 2000
    async with WarehouseEmulator(data={"deals": _deals()}) as emu:
        naive_ms = await _naive_down_ms(emu, naive_calls)
        engine = await _engine(emu, fast_calls, rng)
        short = await _recovery_with_defaults(emu, rng, long_outage=False)
        long = None if quick else await _recovery_with_defaults(emu, rng, long_outage=True)
    fast = engine["fast_ms"]
    defaults = [
        BenchRow(
            f"return -> normal service, defaults, short outage ({short['outage_s']:.0f}s)",
            math.nan,
            short["normal_s"],
            "s",
            f"< 30 s (first success after {short['first_success_s']:.1f} s)",
            met=short["normal_s"] < 30.0,
        )
    ]
    if long is not None:
        defaults.append(
            BenchRow(
                f"return -> normal service, defaults, long outage ({long['outage_s']:.0f}s, "
                f"open wait {long['open_wait_s']:g}s)",
                math.nan,
                long["normal_s"],
                "s",
                f"< 30 s (worst case; first success after {long['first_success_s']:.1f} s)",
                met=long["normal_s"] < 30.0,
            )
        )
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
            f"recovery -> first success (breaker defaults, timeout {TIMEOUT_S:g}s)",
            math.nan,
            engine["recovery_s"],
            "s",
            f"< 30 s (worst case: cap {engine['max_open_wait_s']:g} s + one call)",
            met=engine["recovery_s"] < 30.0,
        ),
        *defaults,
    ]


if __name__ == "__main__":
    main(run, "Resilience: no breaker vs guard, hanging warehouse emulator")
