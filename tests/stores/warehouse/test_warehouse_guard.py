"""The warehouse under a real `Guard` against the emulator: retries take a fresh connection,
and an open breaker reaches the caller as itself.

The guard's retry waits go through a ``sleep`` hook; the tests use it to end the outage
between two attempts, so "the outage ended before the retry" is certain, not timed.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from stores.demo.emulator import WarehouseEmulator
from stores.resilience.breaker import BreakerState, CircuitBreaker
from stores.resilience.errors import CircuitOpenError, DependencyTimeoutError
from stores.resilience.guards import Guard
from stores.resilience.retry import RetrySettings
from stores.warehouse.warehouse import Warehouse

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def emu(emulator: WarehouseEmulator) -> Iterator[WarehouseEmulator]:
    """The session emulator, restored to normal service after the test."""
    yield emulator
    emulator.recover()


class LoopErrors:
    """Collects what asyncio reports to the loop's exception handler during a test."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.messages.append(f"{context.get('message')}: {context.get('exception')!r}")


async def _settle(wh: Warehouse, **want: int) -> None:
    """Let background closes finish (bounded), so pool counters can be compared."""
    for _ in range(1000):
        stats = wh.stats()
        if all(stats[k] == v for k, v in want.items()):
            return
        await asyncio.sleep(0.01)


async def test_a_retry_after_a_hang_runs_on_a_fresh_connection(emu: WarehouseEmulator) -> None:
    loop = asyncio.get_running_loop()
    errors = LoopErrors()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(errors)
    waits: list[float] = []

    async def end_the_outage(seconds: float) -> None:  # the retry's back-off
        waits.append(seconds)
        emu.recover()

    breaker = CircuitBreaker("warehouse", minimum_calls=10, window_size=10)
    guard = Guard(
        "warehouse", breaker, RetrySettings(attempts=3, total_s=60.0), 10.0, sleep=end_the_outage
    )
    try:
        async with Warehouse.open(
            emu.url, min_size=1, max_size=2, guard=guard, close_timeout_s=5.0
        ) as wh:
            guard.timeout_s = 0.5  # the emulator answers in ms; a hung one never does
            logins = emu.logins
            emu.fail("hang")
            rows = await wh.query("SELECT deal_id FROM deals WHERE deal_id = ?", ("D0042",))
            assert rows == [{"deal_id": "D0042"}]
            assert len(waits) == 1  # one retry
            stats = guard.stats()
            assert stats["attempts"] - stats["runs"] == 1 and stats["timeouts"] == 1
            assert stats["breaker"]["failures"] == 1 and stats["breaker"]["successes"] >= 2
            # The retry logged in afresh: it did not reuse the hung, still-busy connection.
            assert emu.logins == logins + 1
            await _settle(wh, in_use=0, size=1, discarded=1)
            pool = wh.stats()
            assert (pool["in_use"], pool["size"], pool["discarded"]) == (0, 1, 1)
            assert await wh.query("SELECT 7 AS seven") == [{"seven": 7}]
        gc.collect()
        await asyncio.sleep(0.05)  # let callbacks of finished futures run
        gc.collect()
        assert not [m for m in errors.messages if "never retrieved" in m], errors.messages
    finally:
        loop.set_exception_handler(previous)


async def test_a_timeout_on_every_attempt_never_reuses_a_connection(
    emu: WarehouseEmulator,
) -> None:
    breaker = CircuitBreaker("warehouse", minimum_calls=10, window_size=10)
    no_wait = RetrySettings(attempts=2, initial_s=0.01, max_s=0.01, total_s=60.0)
    guard = Guard("warehouse", breaker, no_wait, 10.0)
    async with Warehouse.open(emu.url, min_size=1, max_size=2, guard=guard) as wh:
        guard.timeout_s = 0.3
        emu.fail("hang")
        with pytest.raises(DependencyTimeoutError, match=r"'warehouse' timed out after 0\.3s"):
            await wh.query("SELECT 1")
        assert wh.stats()["in_use"] == 0
        assert guard.stats()["timeouts"] == 2 and breaker.stats()["failures"] == 2
        emu.recover()
        guard.timeout_s = 10.0
        await _settle(wh, size=0)
        assert await wh.query("SELECT 2 AS two") == [{"two": 2}]
        # Attempt 1's hung connection was discarded; attempt 2 needed a new one and its
        # login hung too (abandoned at the timeout, closed when it returned). Neither
        # attempt reused the other's connection; after the outage a third login serves.
        stats = wh.stats()
        assert (stats["discarded"], stats["connects"], stats["in_use"]) == (1, 2, 0)


async def test_an_open_breaker_reaches_the_caller_as_itself(emu: WarehouseEmulator) -> None:
    now = [100.0]
    breaker = CircuitBreaker(
        "warehouse", minimum_calls=2, window_size=2, open_wait_s=5.0, clock=lambda: now[0]
    )
    guard = Guard("warehouse", breaker, None, 10.0)
    async with Warehouse.open(emu.url, min_size=1, max_size=2, guard=guard) as wh:
        emu.fail("hang")
        guard.timeout_s = 0.3
        # window [catalogue read ok, this timeout]: a failure rate of 0.5 opens it
        with pytest.raises(DependencyTimeoutError):
            await wh.query("SELECT 1")
        assert breaker.state is BreakerState.OPEN
        seen = (emu.logins, emu.statements, wh.stats()["acquire_count"])
        with pytest.raises(CircuitOpenError, match="circuit breaker 'warehouse' is open"):
            await wh.query("SELECT 1")
        with pytest.raises(CircuitOpenError):
            await wh.load_many("deals", "deal_id", ["D0001"])
        # Failing fast: no statement, no login, not even a pool checkout.
        assert (emu.logins, emu.statements, wh.stats()["acquire_count"]) == seen
        emu.recover()
        guard.timeout_s = 10.0
        now[0] += 5.0
        assert await wh.query("SELECT 1 AS x") == [{"x": 1}]
        assert await wh.query("SELECT 2 AS x") == [{"x": 2}]
        assert breaker.state is BreakerState.CLOSED


async def test_an_abandoned_statement_failing_later_is_not_reported_unretrieved(
    emu: WarehouseEmulator,
) -> None:
    """A timed-out statement whose thread fails after the pool stopped waiting for it
    must not make asyncio log "Future exception was never retrieved"."""
    loop = asyncio.get_running_loop()
    errors = LoopErrors()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(errors)
    try:
        async with Warehouse.open(
            emu.url, min_size=1, max_size=2, query_timeout_s=0.3, close_timeout_s=0.2
        ) as wh:
            emu.fail("hang")
            with pytest.raises(TimeoutError):
                await wh.query("SELECT 1")
            await asyncio.sleep(0.4)  # the pool gave up waiting for the hung statement
            emu.kill_sessions()
            emu.recover()  # the held statement now fails: its session is gone
            await _settle(wh, size=0)
            await asyncio.sleep(0.3)
            assert await wh.query("SELECT 5 AS five") == [{"five": 5}]
        gc.collect()
        await asyncio.sleep(0.05)
        gc.collect()
        assert not [m for m in errors.messages if "never retrieved" in m], errors.messages
    finally:
        loop.set_exception_handler(previous)
