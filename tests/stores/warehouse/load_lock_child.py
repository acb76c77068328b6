"""One "process" of test_loader_locks' multi-process test: a loader over a shared DuckDB file.

    python -m tests.stores.warehouse.load_lock_child '<json: redis_url, duckdb_url,
        key_prefix, keys, ready, go, delay_s>'

Opens a `TieredCache` (load locks on) and a read-only `Warehouse`, touches ``ready``,
waits for ``go`` to exist, loads ``keys`` with one batch of the loader (its fetch slowed
by ``delay_s`` so that the processes overlap), and prints one JSON line: the statements
it ran, the rows, and the cache's ``queries`` counters.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from stores.cache.tiered import TieredCache
from stores.warehouse.loader import Loader, group_rows
from stores.warehouse.row import Row
from stores.warehouse.warehouse import Warehouse


def _ready_then_wait(ready: Path, go: Path) -> None:
    ready.touch()
    while not go.exists():
        time.sleep(0.005)


async def main(args: dict[str, Any]) -> dict[str, Any]:
    """Load the keys once the parent says go; what happened."""
    async with (
        TieredCache(args["redis_url"], key_prefix=args["key_prefix"], lock_ttl_s=30.0) as cache,
        Warehouse.open(args["duckdb_url"] + "?read_only=true", cache=cache) as wh,
    ):

        async def slow_fetch(keys: list[Hashable]) -> dict[Hashable, list[Row]]:
            await asyncio.sleep(args["delay_s"])
            return group_rows(await wh.load_many("notes", "deal_id", keys), "deal_id", keys)

        loader = Loader("notes", "deal_id", slow_fetch, cache=cache)
        before = wh.stats()["statements"]
        await asyncio.to_thread(_ready_then_wait, Path(args["ready"]), Path(args["go"]))
        rows = await loader.load_many(args["keys"])
        return {
            "statements": wh.stats()["statements"] - before,
            "rows": rows,
            "cache": cache.stats()["namespaces"]["queries"],
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
