"""Batch loads across processes: loaders whose caches share one real Redis query each key once.

Two `TieredCache`s (each with its own L1) over one redis-server stand for two processes;
a counting warehouse stand-in (or a real DuckDB file) counts what is queried. The last
test runs two real processes against one redis-server and one DuckDB file.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stores.cache.tiered import TieredCache
from stores.warehouse import provenance
from stores.warehouse.loader import CACHE_NAMESPACE, Loader
from stores.warehouse.row import Row
from stores.warehouse.warehouse import Warehouse
from tests.conftest import RedisServer

READY_DEADLINE_S = 240.0  # a loaded 2-core machine: poll, never assume a start time
PROJECT_ROOT = Path(__file__).resolve().parents[3]


class CountingWarehouse:
    """A warehouse stand-in: one row per key, each fetch slowed by ``delay_s`` and recorded."""

    def __init__(self, delay_s: float = 0.2) -> None:
        self.delay_s = delay_s
        self.keys: Counter[Hashable] = Counter()
        self.fetches = 0
        self.started = asyncio.Event()

    async def __call__(self, keys: list[Hashable]) -> dict[Hashable, list[Row]]:
        self.fetches += 1
        self.started.set()
        self.keys.update(keys)
        await asyncio.sleep(self.delay_s)
        return {k: [{"deal_id": k, "amount": int(str(k)[1:])}] for k in keys}


def _rows(keys: list[str]) -> list[list[Row]]:
    return [[{"deal_id": k, "amount": int(k[1:])}] for k in keys]


async def _locks_left(url: str, key_prefix: str) -> list[bytes]:
    async with aioredis.Redis.from_url(url) as raw:
        return [k async for k in raw.scan_iter(match=f"{key_prefix}*:lock")]


async def test_two_processes_asking_at_once_query_each_key_once(
    redis_server: RedisServer, key_prefix: str
) -> None:
    warehouse = CountingWarehouse()
    keys_a = [f"D{i:04d}" for i in range(0, 60)]
    keys_b = [f"D{i:04d}" for i in range(30, 90)]
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as a,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as b,
    ):
        loader_a = Loader("deals", "deal_id", warehouse, cache=a)
        loader_b = Loader("deals", "deal_id", warehouse, cache=b)
        got_a, got_b = await asyncio.gather(loader_a.load_many(keys_a), loader_b.load_many(keys_b))
        assert (got_a, got_b) == (_rows(keys_a), _rows(keys_b))
        assert set(warehouse.keys) == set(keys_a) | set(keys_b)
        assert max(warehouse.keys.values()) == 1  # every key queried once in total
        assert await _locks_left(redis_server.url, key_prefix) == []
        ns_a, ns_b = (c.stats()["namespaces"][CACHE_NAMESPACE] for c in (a, b))
        assert ns_a["loads_elsewhere"] + ns_b["loads_elsewhere"] == 30  # the overlap
        assert ns_a["waits_given_up"] + ns_b["waits_given_up"] == 0


async def test_the_waiter_answers_from_redis_and_says_so(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """B starts while A is loading: A's keys are waited for, B's own are fetched meanwhile."""
    warehouse = CountingWarehouse(delay_s=0.5)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("tests.loader")
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as a,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as b,
    ):
        loader_a = Loader("deals", "deal_id", warehouse, cache=a)
        loader_b = Loader("deals", "deal_id", warehouse, cache=b)

        async def later_b() -> tuple[list[list[Row]], dict[str, Any]]:
            await warehouse.started.wait()  # A holds the locks and is querying
            with provenance.track() as prov, tracer.start_as_current_span("node b"):
                rows = await loader_b.load_many(["D0001", "D0002", "D0003"])
            return rows, prov.snapshot()

        _, (rows_b, prov_b) = await asyncio.gather(
            loader_a.load_many(["D0001", "D0002"]), later_b()
        )
        assert rows_b == _rows(["D0001", "D0002", "D0003"])
        assert warehouse.keys == Counter({"D0001": 1, "D0002": 1, "D0003": 1})
        assert prov_b == {"deals.deal_id": {"cache": 2, "warehouse": 1}}
        (span,) = exporter.get_finished_spans()
        (event,) = [e for e in span.events if e.name == "loader.load_locks"]
        assert event.attributes is not None
        assert event.attributes["sophia.loader.source"] == "deals.deal_id"
        assert event.attributes["sophia.loader.waited_for"] == 2
        assert event.attributes["sophia.loader.landed"] == 2
        assert event.attributes["sophia.loader.loaded_here"] == 1
        wait_ms = event.attributes["sophia.loader.wait_ms"]
        assert isinstance(wait_ms, float) and 0 < wait_ms < 10_000


async def test_a_dead_holder_delays_the_loader_at_most_the_lock_ttl(
    redis_server: RedisServer, key_prefix: str
) -> None:
    ttl = 1.0
    warehouse = CountingWarehouse(delay_s=0.0)
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=ttl) as dead,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=ttl) as alive,
    ):
        loader = Loader("deals", "deal_id", warehouse, cache=alive)
        # a process that claimed D0007 and died before loading it
        await dead.claim_loads([loader.cache_key("D0007")], CACHE_NAMESPACE)
        started = time.monotonic()
        assert await loader.load_many(["D0007", "D0008"]) == _rows(["D0007", "D0008"])
        assert 0.5 * ttl <= time.monotonic() - started < ttl + 1.0
        assert warehouse.keys == Counter({"D0007": 1, "D0008": 1})
        assert warehouse.fetches == 2  # its own key at once, the dead holder's after the TTL
        assert await _locks_left(redis_server.url, key_prefix) == []
        assert alive.stats()["namespaces"][CACHE_NAMESPACE]["waits_given_up"] == 1


async def test_with_redis_down_loads_still_work(disposable_redis: RedisServer) -> None:
    warehouse = CountingWarehouse(delay_s=0.0)
    async with (
        TieredCache(disposable_redis.url, lock_ttl_s=10.0) as a,
        TieredCache(disposable_redis.url, lock_ttl_s=10.0) as b,
    ):
        disposable_redis.stop()
        loaders = [Loader("deals", "deal_id", warehouse, cache=c) for c in (a, b)]
        got = await asyncio.gather(*(ld.load_many(["D0001", "D0002"]) for ld in loaders))
        assert got == [_rows(["D0001", "D0002"])] * 2
        assert warehouse.keys == Counter({"D0001": 2, "D0002": 2})  # no lock: each loads
        assert await loaders[0].load("D0001") == _rows(["D0001"])[0]  # now from its L1
        assert warehouse.fetches == 2


async def test_a_batch_with_misses_costs_one_more_round_trip_and_hits_none(
    disposable_redis: RedisServer,
) -> None:
    warehouse = CountingWarehouse(delay_s=0.0)
    async with (
        aioredis.Redis.from_url(disposable_redis.url) as raw,
        TieredCache(disposable_redis.url, lock_ttl_s=10.0) as cache,
    ):
        loader = Loader("deals", "deal_id", warehouse, cache=cache)
        await loader.load_many(["D0100", "D0101"])  # loads the scripts once (NOSCRIPT path)
        await raw.config_resetstat()
        await loader.load_many([f"D{i:04d}" for i in range(200)])  # 198 misses
        stats = await raw.info("commandstats")
        # read, claim, write + release: three scripts (the plain write was a MULTI/EXEC)
        assert stats["cmdstat_evalsha"]["calls"] == 3
        assert "cmdstat_multi" not in stats and "cmdstat_mset" not in stats
        await raw.config_resetstat()
        cache.l1.clear()
        await loader.load_many([f"D{i:04d}" for i in range(200)])  # all L2 hits: the read
        assert (await raw.info("commandstats"))["cmdstat_evalsha"]["calls"] == 1
        await raw.config_resetstat()
        await loader.load_many([f"D{i:04d}" for i in range(200)])  # all L1 hits: nothing
        assert "cmdstat_evalsha" not in await raw.info("commandstats")


async def test_two_warehouses_on_one_duckdb_file_run_one_statement(
    redis_server: RedisServer, key_prefix: str, duckdb_url: str
) -> None:
    keys = ["D0001", "D0002", "D0900"]
    url = duckdb_url + "?read_only=true"
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as a,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as b,
        Warehouse.open(url, cache=a) as wh_a,
        Warehouse.open(url, cache=b) as wh_b,
    ):
        before = wh_a.stats()["statements"] + wh_b.stats()["statements"]
        got_a, got_b = await asyncio.gather(
            wh_a.loader("notes", "deal_id").load_many(keys),
            wh_b.loader("notes", "deal_id").load_many(keys),
        )
        assert got_a == got_b
        assert [len(r) for r in got_a] == [2, 2, 0]
        assert wh_a.stats()["statements"] + wh_b.stats()["statements"] - before == 1


def _child(args: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.stores.warehouse.load_lock_child", json.dumps(args)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(600)
def test_two_real_processes_on_one_redis_and_one_duckdb_file(
    redis_server: RedisServer, key_prefix: str, duckdb_url: str, tmp_path: Path
) -> None:
    keys = [f"D{i:04d}" for i in range(0, 40)]
    go = tmp_path / "go"
    children = []
    for n in range(2):
        args = {
            "redis_url": redis_server.url, "duckdb_url": duckdb_url, "key_prefix": key_prefix,
            "keys": keys, "ready": str(tmp_path / f"ready{n}"), "go": str(go), "delay_s": 0.5,
        }  # fmt: skip
        children.append(_child(args))
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while not all((tmp_path / f"ready{n}").exists() for n in range(2)):
            assert all(c.poll() is None for c in children), [c.communicate() for c in children]
            assert time.monotonic() < deadline, "the children never got ready"
            time.sleep(0.05)
        go.touch()
        outputs = [c.communicate(timeout=READY_DEADLINE_S) for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
    assert [c.returncode for c in children] == [0, 0], outputs
    first, second = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert first["rows"] == second["rows"]
    assert [len(r) for r in first["rows"]] == [2] * 40
    assert first["statements"] + second["statements"] == 1  # one process queried
    waiter = first if first["statements"] == 0 else second
    # it waited for the other's rows (or, on a slow machine, started after they landed)
    assert waiter["cache"]["loads_elsewhere"] + waiter["cache"]["l2"]["hits"] == 40
