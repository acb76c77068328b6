"""Acceptance tests: the Warehouse against the emulator, through the real Snowflake connector.

Statement counts are checked twice: by the Warehouse's own ``stats()`` and, independently,
by the emulator's count of query requests it received.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from stores.demo.emulator import WarehouseEmulator
from stores.warehouse.errors import (
    PoolTimeoutError,
    QueryError,
    QueryTimeoutError,
    UnknownIdentifierError,
    WarehouseUnavailableError,
)
from stores.warehouse.warehouse import Warehouse

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def emu(emulator: WarehouseEmulator) -> Iterator[WarehouseEmulator]:
    """The session emulator, restored to normal service after the test."""
    yield emulator
    emulator.recover()
    emulator.set_latency(login_ms=20, query_ms=5)


async def _settle(wh: Warehouse, key: str, want: int) -> None:
    """Let background closes finish (bounded), so counters can be compared."""
    for _ in range(500):
        if wh.stats()[key] == want:
            return
        await asyncio.sleep(0.01)


async def test_rows_come_back_with_lower_case_keys(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url) as wh:
        assert wh.backend == "snowflake"
        rows = await wh.query("SELECT deal_id, amount FROM deals WHERE deal_id = ?", ("D0007",))
        assert rows == [{"deal_id": "D0007", "amount": 1007}]
        catalog = await wh.catalog()
        assert catalog["deals"] == {"deal_id", "company_id", "amount", "stage"}
        assert catalog["notes"] == {"note_id", "deal_id", "body"}


async def test_pool_bounds_hold_under_50_concurrent_callers(emu: WarehouseEmulator) -> None:
    emu.set_latency(query_ms=20)
    logins_before = emu.logins
    async with Warehouse.open(emu.url, min_size=1, max_size=4, acquire_timeout_s=30) as wh:
        peak = {"size": 0, "in_use": 0, "waiting": 0}
        done = asyncio.Event()

        async def watch() -> None:
            while not done.is_set():
                stats = wh.stats()
                for key in peak:
                    peak[key] = max(peak[key], stats[key])
                await asyncio.sleep(0.001)  # sample often, without starving the loop

        watcher = asyncio.create_task(watch())
        results = await asyncio.gather(*(wh.query("SELECT ? AS n", (i,)) for i in range(50)))
        done.set()
        await watcher
        assert [r[0]["n"] for r in results] == list(range(50))
        assert peak["size"] <= 4 and peak["in_use"] <= 4
        assert peak["in_use"] == 4 and peak["waiting"] > 0  # the bound was actually reached
        assert emu.logins - logins_before <= 4
        stats = wh.stats()
        assert stats["in_use"] == 0 and stats["connects"] <= 4
        assert stats["acquire_wait_max_ms"] > 0


async def test_killed_connection_is_detected_on_checkout_and_replaced(
    emu: WarehouseEmulator,
) -> None:
    async with Warehouse.open(emu.url, min_size=2, max_size=2, health_check_after_s=0) as wh:
        assert emu.kill_sessions() >= 2
        assert await wh.query("SELECT 1 AS one") == [{"one": 1}]
        stats = wh.stats()
        assert stats["health_check_failures"] >= 1 and stats["discarded"] >= 1
        assert stats["connects"] >= 3


async def test_killed_connection_failing_mid_query_is_discarded(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url, min_size=1, max_size=1, health_check_after_s=3600) as wh:
        emu.kill_sessions()
        with pytest.raises(WarehouseUnavailableError) as info:
            await wh.query("SELECT 1 AS one")
        assert info.value.__cause__ is not None  # the connector's HTTP 401
        assert await wh.query("SELECT 2 AS two") == [{"two": 2}]  # on a new session
        assert wh.stats()["discarded"] == 1 and wh.stats()["in_use"] == 0


async def test_acquire_timeout_names_the_pool_state(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url, min_size=1, max_size=1, acquire_timeout_s=0.3) as wh:
        stream = wh.stream("SELECT * FROM deals", batch_size=10)
        async with contextlib.aclosing(stream) as held:
            await held.__anext__()  # holds the only connection
            with pytest.raises(PoolTimeoutError, match=r"size=1, max_size=1, in_use=1"):
                await wh.query("SELECT 1")
        assert wh.stats()["in_use"] == 0
        assert await wh.query("SELECT 1 AS one") == [{"one": 1}]


async def test_cancellation_leaks_nothing(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url, min_size=2, max_size=2, acquire_timeout_s=30) as wh:
        emu.set_latency(query_ms=400)
        tasks = [asyncio.create_task(wh.query("SELECT ? AS n", (i,))) for i in range(6)]
        await asyncio.sleep(0.15)  # two are mid-flight, four are waiting for a connection
        assert wh.stats()["in_use"] == 2 and wh.stats()["waiting"] == 4
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert wh.stats()["in_use"] == 0 and wh.stats()["waiting"] == 0
        emu.set_latency(query_ms=5)
        await _settle(wh, "discarded", 2)
        stats = wh.stats()
        assert stats["discarded"] == 2  # the two cancelled mid-flight, never reused
        assert await wh.query("SELECT 7 AS seven") == [{"seven": 7}]
        assert wh.stats()["size"] <= 2


async def test_2500_keys_take_3_statements(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url, max_size=4) as wh:
        keys = [f"D{i:04d}" for i in range(2500)]
        before, server_before = wh.stats()["statements"], emu.statements
        rows = await wh.load_many("deals", "deal_id", keys)
        assert [r["deal_id"] for r in rows] == keys
        assert wh.stats()["statements"] - before == 3
        assert emu.statements - server_before == 3


async def test_100_loads_in_one_tick_take_1_statement(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url, max_size=4) as wh:
        loader = wh.loader("notes", "deal_id")
        assert wh.loader("NOTES", "Deal_ID") is loader
        keys = [f"D{i:04d}" for i in range(0, 1000, 10)]  # 50 with notes, 50 without
        server_before = emu.statements
        results = await asyncio.gather(*(loader.load(k) for k in keys))
        assert emu.statements - server_before == 1
        for key, rows in zip(keys, results, strict=True):
            assert all(r["deal_id"] == key for r in rows)
            assert len(rows) == (2 if int(key[1:]) < 500 else 0)


async def test_stream_over_the_connector(emu: WarehouseEmulator) -> None:
    # the emulator returns a result in one response, so this checks batching and release;
    # the memory bound is measured against DuckDB in test_warehouse.py
    async with Warehouse.open(emu.url, max_size=1) as wh:
        sizes = []
        total = 0
        async for batch in wh.stream("SELECT i FROM range(200000) t(i)", batch_size=7_000):
            sizes.append(len(batch))
            total += sum(r["i"] for r in batch)
        assert sum(sizes) == 200_000 and max(sizes) <= 7_000
        assert total == sum(range(200_000))
        assert wh.stats()["in_use"] == 0


async def test_identifiers_and_values_are_safe(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url) as wh:
        with pytest.raises(UnknownIdentifierError, match=r"known tables: (.*, )?deals, "):
            await wh.load_many("deals; DROP TABLE deals", "deal_id", ["x"])
        with pytest.raises(UnknownIdentifierError, match="unknown column"):
            await wh.loader("deals", "1=1 OR deal_id").load("x")
        hostile = ["D0001' OR '1'='1", "x'); DROP TABLE deals; --", 'it\'s note 3; "quoted"']
        assert await wh.load_many("deals", "deal_id", hostile[:2]) == []
        notes = await wh.load_many("notes", "body", hostile)
        assert [n["note_id"] for n in notes] == ["N00003"]
        assert (await wh.query("SELECT count(*) AS n FROM deals"))[0]["n"] == 3000


async def test_sql_error_is_a_query_error(emu: WarehouseEmulator) -> None:
    async with Warehouse.open(emu.url) as wh:
        with pytest.raises(QueryError, match=r"(?i)no_such_table") as info:
            await wh.query("SELECT * FROM no_such_table")
        assert info.value.__cause__ is not None
        assert wh.stats()["in_use"] == 0 and wh.stats()["discarded"] == 0


async def test_unreachable_warehouse_raises_unavailable(emu: WarehouseEmulator) -> None:
    url = emu.url.replace(
        "login_timeout=10&network_timeout=10", "login_timeout=1&network_timeout=1"
    )
    emu.fail("error")
    with pytest.raises(WarehouseUnavailableError, match="cannot connect") as info:
        async with Warehouse.open(url, min_size=1, acquire_timeout_s=20):
            pass
    assert info.value.__cause__ is not None
    emu.recover()
    async with Warehouse.open(url) as wh:
        assert (await wh.health())["ok"] is True


async def test_hung_statement_times_out_and_its_connection_is_dropped(
    emu: WarehouseEmulator,
) -> None:
    async with Warehouse.open(emu.url, min_size=1, max_size=1, query_timeout_s=0.5) as wh:
        emu.fail("hang")
        with pytest.raises(QueryTimeoutError, match=r"within 0\.5s"):
            await wh.query("SELECT 1")
        assert wh.stats()["in_use"] == 0
        emu.recover()
        await _settle(wh, "size", 0)  # the hung call returns, then its connection is closed
        assert await wh.query("SELECT 3 AS three") == [{"three": 3}]
        assert wh.stats()["discarded"] == 1 and wh.stats()["connects"] == 2


async def test_hung_login_is_bounded_by_the_acquire_timeout(emu: WarehouseEmulator) -> None:
    # max_lifetime_s=0: a connection serves one checkout, so the next query must log in
    async with Warehouse.open(
        emu.url, min_size=0, max_size=1, acquire_timeout_s=0.5, max_lifetime_s=0
    ) as wh:
        await _settle(wh, "size", 0)
        emu.fail("hang")
        with pytest.raises(WarehouseUnavailableError, match="connecting took longer"):
            await wh.query("SELECT 1")
        stats = wh.stats()
        assert stats["in_use"] == 0 and stats["size"] == 0 and stats["connect_failures"] == 1
        emu.recover()
        assert await wh.query("SELECT 4 AS four") == [{"four": 4}]


class RecordingGuard:
    """A CallGuard that calls straight through and records what it saw."""

    name = "recording"

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return await fn(*args, **kwargs)


async def test_every_statement_goes_through_the_guard_once(emu: WarehouseEmulator) -> None:
    guard = RecordingGuard()
    async with Warehouse.open(emu.url, min_size=1, max_size=1, guard=guard) as wh:
        after_open = guard.calls  # the catalogue read (the warm-up login is not a statement)
        assert after_open == 1
        await wh.query("SELECT 1")
        await wh.load_many("deals", "deal_id", ["D0001"])
        async for _ in wh.stream("SELECT deal_id FROM deals", batch_size=1000):
            pass
        assert guard.calls == after_open + 3  # the stream's guarded attempt is its first fetch
