"""Queries in a loop (N+1, the old platform) vs `load_many` and `loader`, on the emulator.

The emulator runs at its default latencies (login 300 ms, statement 40 ms) with demo
data. Naive side: one connection opened up front (as the old services kept one), then
one f-string-formatted statement per key in a loop — the old platform's code, kept ONLY
here to measure it. Engine side: `Warehouse.load_many` (one bound ``IN`` statement per
1,000 keys) and the `loader` DataLoader (concurrent single-key loads coalesced into one
statement). Also the seed brief's ``process_call_data``: calls + transcripts per call in a
loop vs two batched loads run concurrently.

    uv run python -m bench.n_plus_one [--quick]
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import snowflake.connector

from bench.common import BenchRow, main
from stores.demo.data import DemoSizes, generate
from stores.demo.emulator import WarehouseEmulator
from stores.warehouse.backends import parse_warehouse_url
from stores.warehouse.backends.snow import SnowflakeBackend
from stores.warehouse.warehouse import Warehouse

TABLES = ("hubspot_deals", "gong_calls", "gong_transcripts")


class NaiveService:
    """The old platform's service: one connection, a query per key (DO NOT COPY)."""

    def __init__(self, connect_kwargs: dict[str, Any]) -> None:
        self.conn = snowflake.connector.connect(**connect_kwargs)

    def execute_query(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cur = self.conn.cursor()
        cur.execute(query, params)
        names = [d.name.lower() for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def get_deals(self, deal_ids: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for deal_id in deal_ids:  # N+1
            # NAIVE: one statement per key. (The old code also formatted the value into the
            # SQL; the project never does that, even here: binding costs the same.)
            rows += self.execute_query("SELECT * FROM hubspot_deals WHERE deal_id = ?", (deal_id,))
        return rows

    def process_call_data(self, call_ids: list[str]) -> list[dict[str, Any]]:
        processed = []
        for call_id in call_ids:  # Another N+1!
            # NAIVE: two statements per call (values bound, unlike the old code)
            call = self.execute_query("SELECT * FROM gong_calls WHERE call_id = ?", (call_id,))
            segments = self.execute_query(
                "SELECT * FROM gong_transcripts WHERE call_id = ?", (call_id,)
            )
            processed.append({"call": call[0] if call else None, "segments": segments})
        return processed

    def close(self) -> None:
        self.conn.close()


async def engine_process_call_data(wh: Warehouse, call_ids: list[str]) -> list[dict[str, Any]]:
    """The engine's way: both tables batched, the two loads concurrently."""
    calls, segments = await asyncio.gather(
        wh.load_many("gong_calls", "call_id", call_ids),
        wh.load_many("gong_transcripts", "call_id", call_ids),
    )
    by_call: dict[str, list[dict[str, Any]]] = {c: [] for c in call_ids}
    for seg in segments:
        by_call[seg["call_id"]].append(seg)
    call_by_id = {c["call_id"]: c for c in calls}
    return [{"call": call_by_id.get(c), "segments": by_call[c]} for c in call_ids]


async def _ms(coro: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await coro
    return (time.perf_counter() - started) * 1000, result


async def run(quick: bool) -> list[BenchRow]:
    """N+1 loops vs load_many vs loader at several key counts, and process_call_data."""
    sizes = [10] if quick else [10, 100, 1000]
    n_calls = 10 if quick else 100
    tables = generate(DemoSizes().scaled(0.25))
    data = {name: tables[name] for name in TABLES}
    deal_ids = [str(d) for d in data["hubspot_deals"].column("deal_id").to_pylist()]
    call_ids = [str(c) for c in data["gong_calls"].column("call_id").to_pylist()][:n_calls]
    rows: list[BenchRow] = []
    async with WarehouseEmulator(data=data) as emu:
        kwargs = SnowflakeBackend(parse_warehouse_url(emu.url)).connect_kwargs()
        naive = await asyncio.to_thread(NaiveService, kwargs)
        try:
            async with Warehouse.open(emu.url, min_size=4, max_size=8) as wh:
                for n in sizes:
                    keys = deal_ids[:n]
                    # one statement replaces n: the best ratio is about n, so 10 keys
                    # cannot reach 90%
                    target = 0.8 if n < 100 else 0.9
                    want = -(-n // 1000)  # statements: one per 1,000 keys
                    naive_ms, naive_rows = await _ms(asyncio.to_thread(naive.get_deals, keys))
                    before = wh.stats()["statements"]
                    many_ms, many_rows = await _ms(wh.load_many("hubspot_deals", "deal_id", keys))
                    many_statements = wh.stats()["statements"] - before
                    loader = wh.loader("hubspot_deals", "deal_id")
                    before = wh.stats()["statements"]
                    loader_ms, loaded = await _ms(asyncio.gather(*(loader.load(k) for k in keys)))
                    loader_statements = wh.stats()["statements"] - before
                    assert len(naive_rows) == len(many_rows) == sum(len(r) for r in loaded) == n
                    rows.append(
                        BenchRow(
                            f"{n} keys: loop vs load_many ({n} vs {many_statements} statements)",
                            naive_ms,
                            many_ms,
                            "ms",
                            f">= {target:.0%} less, {want} stmt",
                            many_ms <= naive_ms * (1 - target) and many_statements == want,
                        )
                    )
                    rows.append(
                        BenchRow(
                            f"{n} keys: loop vs {n} concurrent loader.load "
                            f"({n} vs {loader_statements} statements)",
                            naive_ms,
                            loader_ms,
                            "ms",
                            f">= {target:.0%} less, {want} stmt",
                            loader_ms <= naive_ms * (1 - target) and loader_statements == want,
                        )
                    )
                naive_ms, naive_calls = await _ms(
                    asyncio.to_thread(naive.process_call_data, call_ids)
                )
                before = wh.stats()["statements"]
                engine_ms, engine_calls = await _ms(engine_process_call_data(wh, call_ids))
                statements = wh.stats()["statements"] - before
                assert naive_calls == engine_calls, "both ways must return the same data"
                rows.append(
                    BenchRow(
                        f"process_call_data, {n_calls} calls "
                        f"({2 * n_calls} vs {statements} statements)",
                        naive_ms,
                        engine_ms,
                        "ms",
                        ">= 90% less, 2 stmt",
                        engine_ms <= naive_ms * 0.1 and statements == 2,
                    )
                )
        finally:
            await asyncio.to_thread(naive.close)
    return rows


if __name__ == "__main__":
    main(run, "N+1: queries in a loop vs batched loads (emulator 300/40 ms)")
