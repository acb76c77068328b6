"""Each run learns which of its keys came from the row cache and which from the warehouse."""

from __future__ import annotations

import asyncio

from stores.cache.tiered import TieredCache
from stores.warehouse import provenance
from stores.warehouse.warehouse import Warehouse


async def test_loads_are_attributed_to_the_run_that_made_them(duckdb_url: str) -> None:
    async with TieredCache() as cache, Warehouse.open(duckdb_url, cache=cache) as wh:
        loader = wh.loader("deals", "deal_id")

        async def run(keys: list[str]) -> dict[str, dict[str, int]]:
            with provenance.track() as prov:
                await loader.load_many(keys)
            return prov.snapshot()

        # Two concurrent runs share one batch; each is told only about its own keys.
        first, second = await asyncio.gather(run(["D0001", "D0002"]), run(["D0003"]))
        assert first == {"deals.deal_id": {"cache": 0, "warehouse": 2}}
        assert second == {"deals.deal_id": {"cache": 0, "warehouse": 1}}
        # Again: now the cache answers, and a new key goes to the warehouse.
        third = await run(["D0001", "D0003", "D0004"])
        assert third == {"deals.deal_id": {"cache": 2, "warehouse": 1}}


async def test_loads_outside_a_run_record_nothing(duckdb_url: str) -> None:
    async with Warehouse.open(duckdb_url) as wh:
        await wh.loader("deals", "deal_id").load("D0001")
        assert provenance.current() is None
