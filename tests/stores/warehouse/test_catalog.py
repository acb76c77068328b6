"""The identifier allow-list: `Catalog` (quoting, case, refusals) and `CatalogCache`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stores.warehouse.catalog import Catalog, CatalogCache, quote_identifier
from stores.warehouse.errors import UnknownIdentifierError

ROWS = [
    {"table_name": "DEALS", "column_name": "DEAL_ID"},
    {"table_name": "DEALS", "column_name": "Amount"},
    {"table_name": 'odd"name', "column_name": 'say "hi"'},
    {"table_name": "empty_view", "column_name": "x"},
]


def test_names_are_matched_case_insensitively_and_quoted_as_stored() -> None:
    catalog = Catalog.from_rows(ROWS)
    assert catalog.quoted("deals", "deal_id") == ('"DEALS"', '"DEAL_ID"')
    assert catalog.quoted("Deals", "AMOUNT") == ('"DEALS"', '"Amount"')
    assert catalog.as_dict() == {
        "deals": {"deal_id", "amount"},
        'odd"name': {'say "hi"'},
        "empty_view": {"x"},
    }


def test_embedded_quotes_are_doubled() -> None:
    assert quote_identifier('a"b') == '"a""b"'
    assert Catalog.from_rows(ROWS).quoted('ODD"NAME', 'SAY "HI"') == ('"odd""name"', '"say ""hi"""')


@pytest.mark.parametrize(
    ("table", "column", "message"),
    [
        ("deal", "deal_id", "unknown table 'deal'; known tables: deals, empty_view, odd\"name"),
        ("deals", "amount; DROP TABLE deals", "unknown column 'amount; DROP TABLE deals' in"),
        ("deals", "stage", "its columns: amount, deal_id"),
    ],
)
def test_unknown_names_are_refused_with_what_exists(table: str, column: str, message: str) -> None:
    with pytest.raises(UnknownIdentifierError) as info:
        Catalog.from_rows(ROWS).quoted(table, column)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)  # a caller's mistake, not an outage


def test_an_empty_catalogue_says_so() -> None:
    with pytest.raises(UnknownIdentifierError, match="known tables: none"):
        Catalog.from_rows([]).quoted("deals", "deal_id")


class Reads:
    """A catalogue source that counts its reads and can change between them."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.count = 0

    async def __call__(self) -> list[dict[str, Any]]:
        self.count += 1
        await asyncio.sleep(0)  # readers that arrive meanwhile must share this read
        return list(self.rows)


async def test_concurrent_first_readers_share_one_read() -> None:
    reads = Reads(ROWS)
    cache = CatalogCache(reads)
    assert cache.cached is None  # nothing is read before it is asked for
    catalogs = await asyncio.gather(*(cache.get() for _ in range(20)))
    assert reads.count == 1
    assert all(c is catalogs[0] for c in catalogs) and cache.cached is catalogs[0]


async def test_a_miss_rereads_so_new_tables_appear() -> None:
    reads = Reads(ROWS)
    cache = CatalogCache(reads, miss_refresh_s=0.0)
    await cache.get()
    reads.rows = [*ROWS, {"table_name": "notes", "column_name": "note_id"}]
    assert await cache.quoted("notes", "note_id") == ('"notes"', '"note_id"')
    assert reads.count == 2
    with pytest.raises(UnknownIdentifierError):  # still unknown after the re-read
        await cache.quoted("nothing", "x")
    assert reads.count == 3


async def test_misses_do_not_reread_more_often_than_allowed() -> None:
    reads = Reads(ROWS)
    cache = CatalogCache(reads, miss_refresh_s=3600.0)
    await cache.get()
    for _ in range(50):  # a flood of bad names costs the warehouse one re-read
        with pytest.raises(UnknownIdentifierError):
            await cache.quoted("nothing", "x")
    assert reads.count == 2
    await cache.refresh()  # an explicit refresh always reads
    assert reads.count == 3
