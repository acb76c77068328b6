"""Batch loading on a real DuckDB file: the DataLoader, the row cache, and a property test."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stores.warehouse.errors import QueryError
from stores.warehouse.loader import chunked, distinct_keys, in_statement
from stores.warehouse.warehouse import Warehouse
from tests.stores.conftest import sample_tables, write_duckdb


class DictRowCache:
    """A small in-test implementation of the RowCache protocol, recording its calls."""

    def __init__(self, fail: bool = False) -> None:
        self.data: dict[tuple[str, str], Any] = {}
        self.reads: list[list[str]] = []
        self.fail = fail

    async def get_many(self, keys: Sequence[str], namespace: str) -> dict[str, Any]:
        if self.fail:
            raise ConnectionError("cache down")
        self.reads.append(list(keys))
        return {k: self.data[(namespace, k)] for k in keys if (namespace, k) in self.data}

    async def set_many(
        self, items: Mapping[str, Any], namespace: str, ttl: float | None = None
    ) -> None:
        if self.fail:
            raise ConnectionError("cache down")
        for k, v in items.items():
            self.data[(namespace, k)] = v


def test_helpers() -> None:
    assert distinct_keys(["b", "a", "b", None, "c", "a"]) == ["b", "a", "c"]
    assert chunked(list(range(2500)), 1000)[2] == list(range(2000, 2500))
    assert in_statement('"t"', '"c"', 3) == 'SELECT * FROM "t" WHERE "c" IN (?, ?, ?)'
    with pytest.raises(ValueError):
        chunked([1], 0)


async def test_loads_from_parallel_tasks_coalesce_and_dedupe(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, max_size=4) as wh:
        loader = wh.loader("notes", "deal_id")
        before = wh.stats()["statements"]

        async def branch(keys: list[str]) -> list[list[dict[str, Any]]]:
            return [await loader.load(k) for k in keys[:1]] + await loader.load_many(keys[1:])

        # three "graph branches" asking for overlapping keys in the same tick
        a, b, c = await asyncio.gather(
            branch(["D0001", "D0002"]), branch(["D0002", "D0003"]), branch(["D0001", "D0600"])
        )
        # first load of each branch is one batch; the load_many calls are a second batch
        assert wh.stats()["statements"] - before == 2
        assert [n["note_id"] for n in a[0]] == ["N00002", "N00003"]
        assert a[1] == b[0]
        assert c[1] == []  # D0600 has no notes
        assert loader.batches == 2


async def test_error_fails_only_its_own_batch(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, max_size=4) as wh:
        by_amount = wh.loader("deals", "amount")
        by_id = wh.loader("deals", "deal_id")
        results = await asyncio.gather(
            by_amount.load("not a number"), by_id.load("D0005"), return_exceptions=True
        )
        assert isinstance(results[0], QueryError)
        assert isinstance(results[1], list) and results[1][0]["amount"] == 1005
        assert await by_amount.load(1005) == results[1]  # the loader still works
        assert wh.stats()["in_use"] == 0


async def test_cache_is_read_first_and_filled_with_misses(duckdb_url: str) -> None:
    cache = DictRowCache()
    async with Warehouse.open(duckdb_url, cache=cache) as wh:
        loader = wh.loader("notes", "deal_id")
        first = await loader.load_many(["D0001", "D0002", "D0900"])
        assert cache.data[("queries", "notes.deal_id='D0001'")] == first[0]
        assert cache.data[("queries", "notes.deal_id='D0900'")] == []
        before = wh.stats()["statements"]
        again = await loader.load_many(["D0002", "D0001"])
        assert wh.stats()["statements"] == before  # all hits: no statement
        assert again == [first[1], first[0]]
        # a partial hit loads only the miss
        cache.data[("queries", "notes.deal_id='D0003'")] = [{"note_id": "from-cache"}]
        mixed = await loader.load_many(["D0003", "D0004"])
        assert mixed[0] == [{"note_id": "from-cache"}]
        assert [n["note_id"] for n in mixed[1]] == ["N00008", "N00009"]
        assert wh.stats()["statements"] == before + 1


async def test_failing_cache_falls_back_to_the_warehouse(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url, cache=DictRowCache(fail=True)) as wh:
        rows = await wh.loader("deals", "deal_id").load("D0042")
        assert rows[0]["amount"] == 1042


@pytest.fixture(scope="module")
def property_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("prop") / "prop.duckdb"
    write_duckdb(path, sample_tables())
    return f"duckdb:///{path}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.lists(
        st.one_of(
            st.integers(min_value=0, max_value=700).map(lambda i: f"D{i:04d}"),
            st.text(max_size=6),
        ),
        max_size=300,
    ),
    chunk=st.integers(min_value=1, max_value=1000),
)
def test_load_many_returns_exactly_the_matching_rows(
    property_db: str, keys: list[str], chunk: int
) -> None:
    async def run() -> list[dict[str, Any]]:
        async with Warehouse.open(property_db + "?read_only=true", in_chunk_size=chunk) as wh:
            return await wh.load_many("notes", "deal_id", keys)

    rows = asyncio.run(run())
    path = property_db.removeprefix("duckdb:///").removesuffix("?read_only=true")
    with duckdb.connect(path, read_only=True) as conn:
        expected = conn.execute(
            "SELECT note_id, deal_id FROM notes WHERE list_contains(?, deal_id)", [keys]
        ).fetchall()
    assert sorted((r["note_id"], r["deal_id"]) for r in rows) == sorted(expected)
    assert len(rows) == len({r["note_id"] for r in rows})  # duplicate keys add no rows
    order = [k for k in dict.fromkeys(keys)]
    positions = [order.index(r["deal_id"]) for r in rows]
    assert positions == sorted(positions)  # grouped in first-seen key order
