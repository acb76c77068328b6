"""Latency of the deal review's reads: connect + query per read (old) vs pool + cache.

The access pattern is the deal review's: for a deal, its HubSpot row, its Gong calls,
its Slack channel and its Linear project, by key. Deals are drawn from a Zipf
distribution (s = 1.0) over the demo deals, as real traffic repeats hot deals. Users
run concurrently. The naive side opens a Snowflake connection per read and closes it,
as the old services did (the key is bound, not formatted in); the engine side reads through
`Warehouse.loader` with the tiered cache (L1; Redis too when SOPHIA_REDIS_URL is set, with
the engine's load locks: SOPHIA_CACHE_LOAD_LOCK_S).
Both against the emulator at its default latencies (login 300 ms, query 40 ms), in its
own process as a remote warehouse is (bench/emulator_process.py).

    uv run python -m bench.query_latency [--quick]
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import numpy as np
import snowflake.connector

from bench.common import BenchRow, main
from bench.emulator_process import emulator_process
from stores.cache.tiered import TieredCache
from stores.demo import data as demo_data
from stores.settings import Settings
from stores.warehouse.backends import parse_warehouse_url
from stores.warehouse.backends.snow import SnowflakeBackend
from stores.warehouse.warehouse import Warehouse

SCALE = 0.1
READS = (
    ("hubspot_deals", "deal_id"),
    ("gong_calls", "deal_id"),
    ("slack_channels", "deal_id"),
    ("linear_projects", "deal_id"),
)


def _naive_read(kwargs: dict[str, Any], table: str, column: str, key: str) -> list[Any]:
    """The old pattern: a connection per read. (It also formatted the value into the SQL;
    the project never does, even here: the value is bound, which costs the same.)"""
    conn = snowflake.connector.connect(**kwargs)
    try:
        cur = conn.cursor()
        # table and column come from READS, a constant allow-list
        cur.execute(f"SELECT * FROM {table} WHERE {column} = ?", (key,))  # noqa: S608
        return cur.fetchall()
    finally:
        conn.close()


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return float(p50), float(p95), float(p99)


async def _users(n_users: int, reads: list[tuple[str, str, str]], one: Any) -> list[float]:
    """Run `reads` split across `n_users` concurrent users; latency of each read in ms."""
    latencies: list[float] = []

    async def user(mine: list[tuple[str, str, str]]) -> None:
        for table, column, key in mine:
            started = time.perf_counter()
            await one(table, column, key)
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(user(reads[i::n_users]) for i in range(n_users)))
    return latencies


async def run(quick: bool) -> list[BenchRow]:
    """p50/p95/p99 of single reads, both ways, on the same Zipf trace of deals."""
    sizes = demo_data.DemoSizes().scaled(SCALE)
    n_users = 8
    naive_reviews, engine_reviews = (8, 100) if quick else (24, 400)
    rng = np.random.default_rng(11)
    ranks = rng.zipf(1.2, size=engine_reviews)
    deals = [f"D-{min(int(r), sizes.deals):05d}" for r in ranks]
    reads = [(t, c, d) for d in deals for t, c in READS]
    async with emulator_process(SCALE) as url:
        kwargs = SnowflakeBackend(parse_warehouse_url(url)).connect_kwargs()
        naive = await _users(
            n_users,
            reads[: naive_reviews * len(READS)],
            lambda t, c, k: asyncio.to_thread(_naive_read, kwargs, t, c, k),
        )
        async with (
            TieredCache(
                redis_url=os.environ.get("SOPHIA_REDIS_URL"),
                lock_ttl_s=Settings().cache_load_lock_s or None,  # as the engine opens it
            ) as cache,
            Warehouse.open(url, min_size=8, max_size=8, cache=cache) as wh,
        ):
            engine = await _users(n_users, reads, lambda t, c, k: wh.loader(t, c).load(k))
            queries = cache.stats()["namespaces"].get("queries", {})
            hit_ratio = float(queries.get("hit_ratio") or 0.0)
    n50, n95, n99 = _percentiles(naive)
    e50, e95, e99 = _percentiles(engine)
    return [
        BenchRow("read p50", n50, e50, "ms", "200-500 -> 10-50 ms", e50 <= 50),
        BenchRow("read p95", n95, e95, "ms", "", True),
        BenchRow("read p99", n99, e99, "ms", "< 100 ms for 99%", e99 < 100),
        BenchRow(
            "cache hit ratio of the reads (queries namespace)",
            float("nan"),
            hit_ratio * 100,
            "%",
            "info (Zipf trace)",
            True,
        ),
    ]


if __name__ == "__main__":
    main(run, "query latency: connect per read vs pool + cache")
