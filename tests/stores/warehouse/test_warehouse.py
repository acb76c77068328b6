"""Warehouse on a real DuckDB file: queries, binding, identifiers, errors, streaming."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stores.errors import ConfigurationError
from stores.warehouse.errors import (
    PoolClosedError,
    QueryError,
    UnknownIdentifierError,
    WarehouseUnavailableError,
)
from stores.warehouse.warehouse import Warehouse


async def test_query_binds_params_and_lowercases_keys(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url) as wh:
        rows = await wh.query(
            "SELECT deal_id AS Deal_ID, amount FROM deals WHERE amount > ? ORDER BY amount LIMIT 2",
            (3997,),
        )
        assert rows == [{"deal_id": "D2998", "amount": 3998}, {"deal_id": "D2999", "amount": 3999}]
        assert wh.backend == "duckdb"
        assert await wh.catalog() == {
            "deals": {"deal_id", "company_id", "amount", "stage"},
            "notes": {"note_id", "deal_id", "body"},
        }


async def test_values_with_quotes_and_semicolons_are_bound_not_injected(duckdb_url: str) -> None:
    hostile = "D0001'; DROP TABLE deals; --"
    async with Warehouse.open(duckdb_url) as wh:
        assert await wh.load_many("deals", "deal_id", [hostile]) == []
        assert await wh.query("SELECT * FROM deals WHERE deal_id = ?", (hostile,)) == []
        body = 'it\'s note 3; "quoted"'
        rows = await wh.load_many("notes", "body", [body])
        assert [r["note_id"] for r in rows] == ["N00003"]
        assert (await wh.query("SELECT count(*) AS n FROM deals"))[0]["n"] == 3000


async def test_unknown_identifiers_are_refused_with_what_exists(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url) as wh:
        with pytest.raises(UnknownIdentifierError, match="known tables: deals, notes"):
            await wh.load_many("deals; DROP TABLE deals", "deal_id", ["D0001"])
        with pytest.raises(UnknownIdentifierError, match="its columns: amount, company_id"):
            await wh.load_many("deals", "deal_id = deal_id OR 1=1 --", ["x"])
        with pytest.raises(UnknownIdentifierError):
            await wh.loader("nope", "deal_id").load("D0001")
        # case does not matter, the catalogue spelling is used
        assert len(await wh.load_many("DEALS", "Deal_Id", ["D0001"])) == 1
        assert wh.stats()["in_use"] == 0


async def test_sql_error_is_query_error_with_cause_and_no_leak(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, max_size=2) as wh:
        with pytest.raises(QueryError, match="no_such_table") as info:
            await wh.query("SELECT * FROM no_such_table")
        assert info.value.__cause__ is not None
        with pytest.raises(QueryError):
            await wh.query_many([("SELECT 1", ()), ("SELEC nonsense", ())])
        stats = wh.stats()
        assert stats["in_use"] == 0 and stats["errors"] == 2
        assert await wh.query("SELECT 42 AS x") == [{"x": 42}]  # connection still usable


async def test_query_many_runs_in_order(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, max_size=4) as wh:
        results = await wh.query_many(
            [("SELECT ? AS v", (i,)) for i in range(10)],
        )
        assert [r[0]["v"] for r in results] == list(range(10))


async def test_load_many_chunks_and_groups_in_key_order(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, max_size=3) as wh:
        keys = [f"D{i:04d}" for i in reversed(range(2500))] + ["D0001", "missing"]
        before = wh.stats()["statements"]
        rows = await wh.load_many("deals", "deal_id", keys)
        assert wh.stats()["statements"] - before == 3
        assert [r["deal_id"] for r in rows] == keys[:2500]
        notes = await wh.load_many("notes", "deal_id", ["D0002", "D0001", "D2000"])
        assert [(n["deal_id"], n["note_id"]) for n in notes] == [
            ("D0002", "N00004"),
            ("D0002", "N00005"),
            ("D0001", "N00002"),
            ("D0001", "N00003"),
        ]
        assert await wh.load_many("deals", "deal_id", []) == []


@pytest.mark.slow
async def test_stream_memory_is_bounded_versus_fetchall(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'big.duckdb'}"
    sql = "SELECT i AS id, i * 2 AS doubled, 'row' AS label FROM range(?) t(i)"
    n = 1_000_000
    async with Warehouse.open(url) as wh:
        gc.collect()
        tracemalloc.start()
        try:
            count = 0
            total = 0
            async for batch in wh.stream(sql, (n,), batch_size=10_000):
                count += len(batch)
                total += batch[-1]["id"]
                del batch
            _, stream_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            tracemalloc.stop()
            gc.collect()
            tracemalloc.start()
            rows = await wh.query(sql, (n,))
            _, fetchall_peak = tracemalloc.get_traced_memory()
            assert len(rows) == n
            del rows
        finally:
            tracemalloc.stop()
        assert count == n
        assert total == sum(range(9_999, n, 10_000))
        # streaming holds one batch; fetchall holds a million dicts
        assert stream_peak < fetchall_peak / 20, (stream_peak, fetchall_peak)
        assert wh.stats()["in_use"] == 0


async def test_stream_releases_connection_on_break_and_cancel(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, max_size=1, acquire_timeout_s=5) as wh:
        async with contextlib.aclosing(
            wh.stream("SELECT * FROM range(100000)", batch_size=100)
        ) as it:
            async for _ in it:
                break
        assert wh.stats()["in_use"] == 0
        assert await wh.query("SELECT 1 AS one") == [{"one": 1}]

        started = asyncio.Event()

        async def consume() -> None:
            stream = wh.stream("SELECT * FROM range(10000000)", batch_size=10)
            async with contextlib.aclosing(stream) as it:
                async for _ in it:
                    started.set()
                    await asyncio.sleep(3600)

        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert wh.stats()["in_use"] == 0
        assert await wh.query("SELECT 2 AS two") == [{"two": 2}]


async def test_abandoned_stream_is_released_when_collected(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, max_size=1, acquire_timeout_s=5) as wh:

        async def first_batch_only() -> int:
            async for batch in wh.stream("SELECT * FROM range(100000)", batch_size=100):
                return len(batch)
            return 0

        assert await first_batch_only() == 100
        gc.collect()  # the loop's async-generator finalizer then closes the stream
        assert await wh.query("SELECT 3 AS three") == [{"three": 3}]
        assert wh.stats()["in_use"] == 0


async def test_read_only_open_and_missing_file(duckdb_url: str, tmp_path: Path) -> None:
    async with Warehouse.open(duckdb_url + "?read_only=true") as wh:
        assert len(await wh.load_many("deals", "deal_id", ["D0000"])) == 1
        with pytest.raises(QueryError):
            await wh.query("CREATE TABLE x (a INT)")
    with pytest.raises(WarehouseUnavailableError, match="does not exist"):
        async with Warehouse.open(f"duckdb:///{tmp_path / 'absent.duckdb'}?read_only=true"):
            pass


async def test_bad_urls_are_configuration_errors() -> None:
    for url in ("postgres://x/y", "duckdb:///x.duckdb?mode=rw", "snowflake://acct/db"):
        with pytest.raises(ConfigurationError):
            Warehouse(url)


async def test_closed_warehouse_raises_pool_closed(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url) as wh:
        pass
    with pytest.raises(PoolClosedError):
        await wh.query("SELECT 1")


async def test_health_reports_pool(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, min_size=2) as wh:
        health = await wh.health()
        assert health["ok"] is True and health["backend"] == "duckdb"
        assert health["pool"]["size"] == 2 and health["pool"]["in_use"] == 0


async def test_each_statement_is_a_span_with_semantic_attributes(
    duckdb_url: str, span_exporter: InMemorySpanExporter
) -> None:
    exporter = span_exporter
    async with Warehouse.open(duckdb_url) as wh:
        exporter.clear()
        await wh.load_many("deals", "deal_id", ["D0001", "D0002"])
        async for _ in wh.stream("SELECT * FROM deals WHERE amount < ?", (1003,), batch_size=2):
            pass
    spans = [s for s in exporter.get_finished_spans() if s.attributes]
    by_name = {s.name: s for s in spans}
    load = by_name["SELECT deals"]
    assert load.attributes is not None
    assert load.attributes["db.system.name"] == "duckdb"
    assert load.attributes["db.query.text"] == 'SELECT * FROM "deals" WHERE "deal_id" IN (?, ?)'
    assert load.attributes["db.response.returned_rows"] == 2
    assert load.attributes["db.collection.name"] == "deals"
    assert "sophia.pool.wait_ms" in load.attributes
    stream = by_name["SELECT"]
    assert stream.attributes is not None and stream.attributes["db.response.returned_rows"] == 3


async def test_a_nodes_own_statements_are_events_and_totals_of_its_span(
    duckdb_url: str, span_exporter: InMemorySpanExporter
) -> None:
    import telemetry

    async with Warehouse.open(duckdb_url) as wh:
        span_exporter.clear()
        with telemetry.node_span("agent"):
            await wh.load_many("deals", "deal_id", ["D0001", "D0002"])
            with pytest.raises(QueryError):
                await wh.query("SELECT no_such_column FROM deals")
    (agent,) = span_exporter.get_finished_spans()  # no statement span
    load, failed = [e for e in agent.events if e.name == "db.query"]
    assert load.attributes is not None and failed.attributes is not None
    assert load.attributes["db.query.text"] == 'SELECT * FROM "deals" WHERE "deal_id" IN (?, ?)'
    assert load.attributes["db.collection.name"] == "deals"
    assert load.attributes["db.response.returned_rows"] == 2
    assert load.attributes["sophia.duration_ms"] >= 0 and "sophia.pool.wait_ms" in load.attributes
    assert failed.attributes["error.type"] == "QueryError"
    assert load.timestamp <= failed.timestamp  # each at its statement's start
    assert agent.attributes is not None
    assert agent.attributes["sophia.db.statements"] == 2
    assert agent.attributes["sophia.db.rows"] == 2


async def test_statement_spans_gives_a_nodes_statements_spans_of_their_own(
    duckdb_url: str, span_exporter: InMemorySpanExporter
) -> None:
    import telemetry

    async with Warehouse.open(duckdb_url, statement_spans=True) as wh:
        span_exporter.clear()
        with telemetry.node_span("agent"):
            await wh.load_many("deals", "deal_id", ["D0001"])
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    assert set(spans) == {"agent", "SELECT deals"}
    assert spans["SELECT deals"].parent.span_id == spans["agent"].context.span_id  # type: ignore[union-attr]
    assert not spans["agent"].events


async def test_a_table_created_after_open_is_found_after_one_catalogue_refresh(
    duckdb_url: str,
) -> None:
    """The catalogue follows the warehouse: a new table is known on first use (one
    re-read), and unknown names re-read it at most once per interval."""
    async with Warehouse.open(duckdb_url) as wh:
        await wh.query("CREATE TABLE fresh (k VARCHAR, v INTEGER)")
        await wh.query("INSERT INTO fresh VALUES ('a', 1), ('b', 2)")
        before = wh.stats()["statements"]
        assert await wh.loader("fresh", "k").load("b") == [{"k": "b", "v": 2}]
        assert "fresh" in await wh.catalog()
        after_new = wh.stats()["statements"]
        assert after_new - before == 2  # one catalogue read, one load
        for name in ("nope", "still_nope", "never"):
            with pytest.raises(UnknownIdentifierError, match="unknown table"):
                await wh.load_many(name, "k", ["a"])
        assert wh.stats()["statements"] == after_new  # rate-limited: no catalogue reads
