"""Connect-per-query (the old platform) vs the pooled Warehouse, against the emulator.

The emulator runs at its default latencies (login 300 ms, statement 40 ms), the figures
of a remote Snowflake. Naive side: ``snowflake.connector.connect`` + execute + close for
every query, as the old services did (run on a thread so the event loop stays free).
Engine side: a `Warehouse` opened once; each query acquires a pooled connection.

    uv run python -m bench.connection [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pyarrow as pa
import snowflake.connector

from bench.common import BenchRow, main
from stores.demo.emulator import WarehouseEmulator
from stores.warehouse.backends import parse_warehouse_url
from stores.warehouse.backends.snow import SnowflakeBackend
from stores.warehouse.warehouse import Warehouse

SQL = "SELECT deal_id, amount FROM deals WHERE deal_id = ?"


def _deals() -> pa.Table:
    return pa.table({"deal_id": [f"D{i:04d}" for i in range(100)], "amount": list(range(100))})


def _naive_query(connect_kwargs: dict[str, Any], key: str) -> tuple[float, list[Any]]:
    """The old pattern: a new connection for one query. Returns (connect ms, rows)."""
    started = time.perf_counter()
    conn = snowflake.connector.connect(**connect_kwargs)
    connect_ms = (time.perf_counter() - started) * 1000
    try:
        cur = conn.cursor()
        cur.execute(SQL, (key,))
        return connect_ms, cur.fetchall()
    finally:
        conn.close()


async def run(quick: bool) -> list[BenchRow]:
    """Sequential and concurrent queries, both ways; one row per metric."""
    n_seq = 5 if quick else 20
    n_conc = 8 if quick else 32
    async with WarehouseEmulator(data={"deals": _deals()}) as emu:
        kwargs = SnowflakeBackend(parse_warehouse_url(emu.url)).connect_kwargs()
        keys = [f"D{i % 100:04d}" for i in range(max(n_seq, n_conc))]

        naive_lat: list[float] = []
        naive_connect: list[float] = []
        for key in keys[:n_seq]:
            started = time.perf_counter()
            connect_ms, rows = await asyncio.to_thread(_naive_query, kwargs, key)
            naive_lat.append((time.perf_counter() - started) * 1000)
            naive_connect.append(connect_ms)
            assert len(rows) == 1
        started = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(_naive_query, kwargs, k) for k in keys[:n_conc]))
        naive_conc_ms = (time.perf_counter() - started) * 1000

        naive_logins = emu.logins
        async with Warehouse.open(emu.url, min_size=8, max_size=8) as wh:
            logins_after_open = emu.logins
            engine_lat: list[float] = []
            for key in keys[:n_seq]:
                started = time.perf_counter()
                rows = await wh.query(SQL, (key,))
                engine_lat.append((time.perf_counter() - started) * 1000)
                assert len(rows) == 1
            seq_stats = wh.stats()
            acquire_ms = seq_stats["acquire_wait_total_ms"] / max(seq_stats["acquire_count"], 1)
            started = time.perf_counter()
            await wh.query_many([(SQL, (k,)) for k in keys[:n_conc]])
            engine_conc_ms = (time.perf_counter() - started) * 1000
            engine_logins = emu.logins - logins_after_open

    naive_overhead = statistics.fmean(naive_connect)
    naive_mean, engine_mean = statistics.fmean(naive_lat), statistics.fmean(engine_lat)
    return [
        BenchRow(
            "connection overhead per query",
            naive_overhead,
            acquire_ms,
            "ms",
            ">= 95% less",
            acquire_ms <= naive_overhead * 0.05,
        ),
        BenchRow(
            f"query latency, mean of {n_seq} sequential",
            naive_mean,
            engine_mean,
            "ms",
            "< 100 ms avg",
            engine_mean < 100,
        ),
        BenchRow(
            f"{n_conc} concurrent queries, wall time",
            naive_conc_ms,
            engine_conc_ms,
            "ms",
            "faster",
            engine_conc_ms < naive_conc_ms,
        ),
        BenchRow(
            f"logins for {n_seq + n_conc} queries (after open)",
            float(naive_logins),
            float(engine_logins),
            "logins",
            "0 (warm-up only)",
            engine_logins == 0,
        ),
    ]


if __name__ == "__main__":
    main(run, "warehouse connections: connect-per-query vs pooled (emulator 300/40 ms)")
