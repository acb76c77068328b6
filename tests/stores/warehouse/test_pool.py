"""The connection pool on real DuckDB connections (in-memory root, cursor duplicates)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import duckdb
import pytest

from stores.warehouse.backends.duck import DuckDBBackend
from stores.warehouse.errors import PoolClosedError, PoolTimeoutError
from stores.warehouse.pool import ConnectionPool


def select(conn: duckdb.DuckDBPyConnection, value: int) -> int:
    row = conn.execute("SELECT ?", [value]).fetchone()
    assert row is not None
    return int(row[0])


class CountingGuard:
    """A CallGuard that calls straight through and counts the calls it saw."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def run(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        self.calls.append(getattr(fn, "__name__", "?"))
        return await fn(*args, **kwargs)


async def test_warm_up_opens_min_size_and_reuses_lifo(backend: DuckDBBackend) -> None:
    async with ConnectionPool(backend, min_size=3, max_size=5) as pool:
        assert pool.stats()["connects"] == 3 and pool.stats()["idle"] == 3
        async with pool.acquire() as a, pool.acquire() as b:
            first, second = a.connection, b.connection
            assert first is not second
            assert await a.run(select, 1) == 1 and await b.run(select, 2) == 2
        # leaving the block releases b, then a: a was returned last, so it comes out first
        async with pool.acquire() as c:
            assert c.connection is first
        async with pool.acquire() as c, pool.acquire() as d:
            assert (c.connection, d.connection) == (first, second)
        assert pool.stats()["connects"] == 3


async def test_acquire_timeout_error_names_the_state(backend: DuckDBBackend) -> None:
    async with ConnectionPool(backend, min_size=0, max_size=1, acquire_timeout_s=0.1) as pool:
        async with pool.acquire():
            with pytest.raises(PoolTimeoutError) as info:
                async with pool.acquire():
                    pass
        message = str(info.value)
        assert "size=1" in message and "in_use=1" in message and "waiting=" in message
        assert pool.stats()["in_use"] == 0 and pool.stats()["waiting"] == 0


async def test_waiters_get_connections_in_turn(backend: DuckDBBackend) -> None:
    async with ConnectionPool(backend, min_size=0, max_size=2, acquire_timeout_s=10) as pool:
        active = 0
        peak = 0

        async def use(i: int) -> int:
            nonlocal active, peak
            async with pool.acquire() as lease:
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.001)
                active -= 1
                return await lease.run(select, i)

        assert await asyncio.gather(*(use(i) for i in range(30))) == list(range(30))
        assert peak == 2 and pool.stats()["connects"] == 2


async def test_dead_connection_is_replaced_after_idle(backend: DuckDBBackend) -> None:
    async with ConnectionPool(backend, min_size=1, max_size=1, health_check_after_s=0) as pool:
        async with pool.acquire() as lease:
            dead = lease.connection
        dead.close()  # behind the pool's back
        async with pool.acquire() as lease:
            assert lease.connection is not dead
            assert await lease.run(select, 5) == 5
        stats = pool.stats()
        assert stats["health_check_failures"] == 1 and stats["connects"] == 2


async def test_lifetimes_recycle_connections(backend: DuckDBBackend) -> None:
    async with ConnectionPool(backend, min_size=1, max_size=1, max_lifetime_s=0.0) as pool:
        async with pool.acquire() as lease:
            first = lease.connection
        async with pool.acquire() as lease:
            assert lease.connection is not first
    async with ConnectionPool(backend, min_size=1, max_size=1, max_idle_s=0.0) as pool:
        async with pool.acquire():
            pass
        await asyncio.sleep(0.01)
        async with pool.acquire():
            pass
        assert pool.stats()["connects"] >= 2


async def test_cancelled_call_discards_the_connection(backend: DuckDBBackend) -> None:
    async with ConnectionPool(backend, min_size=1, max_size=1, acquire_timeout_s=5) as pool:
        started = asyncio.Event()

        async def slow() -> None:
            async with pool.acquire() as lease:
                started.set()
                await lease.run(lambda conn: time.sleep(0.3))

        task = asyncio.create_task(slow())
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.stats()["in_use"] == 0 and pool.stats()["discarded"] == 1
        async with pool.acquire() as lease:  # waits for the slot, gets a new connection
            assert await lease.run(select, 9) == 9
        assert pool.stats()["connects"] == 2


async def test_disconnect_errors_discard_but_sql_errors_do_not(backend: DuckDBBackend) -> None:
    def broken(conn: duckdb.DuckDBPyConnection) -> None:
        raise duckdb.ConnectionException("Connection already closed!")

    async with ConnectionPool(backend, min_size=1, max_size=1) as pool:
        async with pool.acquire() as lease:
            with pytest.raises(duckdb.Error):
                await lease.run(lambda conn: conn.execute("SELEC 1"))
        assert pool.stats()["discarded"] == 0
        async with pool.acquire() as lease:
            with pytest.raises(duckdb.ConnectionException):
                await lease.run(broken)
        assert pool.stats()["discarded"] == 1


async def test_close_waits_then_forces_and_refuses_new_work(backend: DuckDBBackend) -> None:
    pool = ConnectionPool(backend, min_size=1, max_size=1, acquire_timeout_s=5)
    await pool.open()
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with pool.acquire():
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    waiter = asyncio.create_task(_acquire_once(pool))
    await asyncio.sleep(0.01)
    await pool.close(timeout_s=0.1)  # the holder never returns: forced
    with pytest.raises(PoolClosedError):
        await waiter
    with pytest.raises(PoolClosedError):
        await _acquire_once(pool)
    release.set()
    await holder
    assert pool.stats()["size"] == 0 and pool.stats()["closed"] is True


async def _acquire_once(pool: ConnectionPool[Any]) -> None:
    async with pool.acquire():
        pass


async def test_guard_wraps_acquire_and_work_as_one_attempt(backend: DuckDBBackend) -> None:
    guard = CountingGuard()
    async with ConnectionPool(backend, min_size=0, max_size=2, guard=guard) as pool:
        # the connect this checkout needs is part of the attempt, not a guarded call of its own
        assert await pool.using(lambda lease: lease.run(select, 1)) == 1
        assert guard.calls == ["_attempt"]
        lease, value = await pool.checkout(lambda lease: lease.run(select, 2))
        assert value == 2 and pool.stats()["in_use"] == 1  # kept until released
        assert await lease.run(select, 3) == 3  # later work on the lease is not guarded
        lease.release()
        lease.release()  # idempotent
        assert pool.stats()["in_use"] == 0
        assert guard.calls == ["_attempt", "_attempt"]
        async with pool.acquire() as plain:  # acquire() itself is never guarded
            await plain.run(select, 4)
        assert guard.calls == ["_attempt", "_attempt"]


async def test_a_failed_attempt_releases_its_connection_before_the_error(
    backend: DuckDBBackend,
) -> None:
    async with ConnectionPool(backend, min_size=1, max_size=1) as pool:

        async def fails(lease: Any) -> None:
            await lease.run(select, 1)
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await pool.using(fails)
        assert pool.stats()["in_use"] == 0
        assert await pool.using(lambda lease: lease.run(select, 5)) == 5


async def test_invalid_sizes_are_refused(backend: DuckDBBackend) -> None:
    with pytest.raises(ValueError):
        ConnectionPool(backend, min_size=3, max_size=2)


async def test_reaper_closes_idle_connections_past_their_idle_lifetime(
    backend: DuckDBBackend,
) -> None:
    async with ConnectionPool(backend, min_size=2, max_size=2, max_idle_s=0.05) as pool:
        assert pool.stats()["idle"] == 2
        for _ in range(500):  # bounded wait for the background reaper
            if pool.stats()["size"] == 0:
                break
            await asyncio.sleep(0.01)
        assert pool.stats()["idle"] == 0 and pool.stats()["size"] == 0
        assert pool.stats()["discarded"] == 2
        async with pool.acquire() as lease:  # demand opens a new one
            assert await lease.run(select, 3) == 3
