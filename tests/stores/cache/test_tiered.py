"""TieredCache against a real redis-server: tiers, TTLs, bounds, stampedes, batching."""

from __future__ import annotations

import asyncio
import pickle
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis

from stores.cache import serialization
from stores.cache.errors import CacheSerializationError, UnknownNamespaceError
from stores.cache.tiered import DEFAULT_TTLS, TieredCache
from stores.errors import ConfigurationError
from tests.conftest import RedisServer


def counter_loader(calls: list[int], value: Any, delay: float = 0.0) -> Any:
    async def loader() -> Any:
        calls.append(1)
        if delay:
            await asyncio.sleep(delay)
        return value

    return loader


async def test_write_goes_to_both_tiers_under_the_documented_key(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    row = {"deal_id": "D1", "amount": Decimal("10.50"), "close": date(2026, 1, 2)}
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        await cache.set("deal:D1", row, "queries")
        stored = await raw_redis.get(f"{key_prefix}queries:deal:D1")
        assert stored is not None and serialization.loads(stored) == row
        ttl_ms = await raw_redis.pttl(f"{key_prefix}queries:deal:D1")
        assert 3_500_000 < ttl_ms <= 3_600_000  # the queries namespace TTL, 1 h
        assert await cache.get("deal:D1", "queries") == row
        assert cache.stats()["namespaces"]["queries"]["l1"]["hits"] == 1


async def test_l2_hit_is_promoted_to_l1_with_the_remaining_ttl(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as writer:
        await writer.set("k", [1, 2, 3], "api", ttl=30)
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as reader:
        assert await reader.get("k", "api") == [1, 2, 3]  # fresh L1: from Redis
        rkey = reader.redis_key("k", "api")
        remaining = reader.l1.remaining_ttl(rkey)
        assert remaining is not None and remaining <= 30
        assert await reader.get("k", "api") == [1, 2, 3]  # now from L1
        await raw_redis.delete(rkey)
        assert await reader.get("k", "api") == [1, 2, 3]  # still in L1
        ns = reader.stats()["namespaces"]["api"]
        assert (ns["l2"]["hits"], ns["l1"]["hits"], ns["misses"]) == (1, 2, 0)


async def test_ttl_expiry_in_each_tier(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        await cache.set("short", "v", "sessions", ttl=0.2)
        rkey = cache.redis_key("short", "sessions")
        assert 0 < await raw_redis.pttl(rkey) <= 200
        assert await cache.get("short", "sessions") == "v"
        await asyncio.sleep(0.35)
        assert await raw_redis.exists(rkey) == 0  # expired in Redis
        assert cache.l1.get(rkey) is None  # expired in L1
        assert await cache.get("short", "sessions", default="gone") == "gone"


async def test_promoted_entry_never_outlives_the_redis_ttl(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as writer:
        await writer.set("k", "v", "api", ttl=0.4)
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as reader:
        await asyncio.sleep(0.2)
        assert await reader.get("k", "api") == "v"  # promoted with ~0.2 s left
        remaining = reader.l1.remaining_ttl(reader.redis_key("k", "api"))
        assert remaining is not None and remaining <= 0.2
        await asyncio.sleep(0.3)
        assert await reader.get("k", "api", default="miss") == "miss"


async def test_namespace_ttl_caps_l1_even_without_redis() -> None:
    async with TieredCache(ttls={"api": 0.2}) as cache:
        assert cache.namespaces["api"] == 0.2
        await cache.set("k", 1, "api")
        await asyncio.sleep(0.3)
        assert await cache.get("k", "api") is None
        assert cache.stats()["namespaces"]["api"]["expirations"] == 1


async def test_l1_bounds_hold_while_l2_keeps_everything(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with TieredCache(
        redis_server.url, l1_max_entries=50, l1_max_bytes=20_000, key_prefix=key_prefix
    ) as cache:
        items = {f"k{i}": "x" * (i % 7 * 100) for i in range(400)}
        await cache.set_many(items, "queries")
        l1 = cache.stats()["l1"]
        assert l1["entries"] <= 50 and l1["bytes"] <= 20_000
        assert l1["evictions"] >= 350
        assert cache.stats()["namespaces"]["queries"]["evictions"] == l1["evictions"]
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as other:
        assert await other.get_many(list(items), "queries") == items


async def test_one_loader_call_for_100_concurrent_misses(
    redis_server: RedisServer, key_prefix: str
) -> None:
    calls: list[int] = []
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        loader = counter_loader(calls, {"v": 42}, delay=0.05)
        results = await asyncio.gather(
            *(cache.get_or_load("hot", "queries", loader) for _ in range(100))
        )
        assert results == [{"v": 42}] * 100
        assert len(calls) == 1
        assert await cache.get_or_load("hot", "queries", loader) == {"v": 42}
        assert len(calls) == 1
        ns = cache.stats()["namespaces"]["queries"]
        assert ns["loader_calls"] == 1 and ns["coalesced"] == 99 and ns["l1"]["hits"] == 1


async def test_cancelled_first_caller_does_not_cancel_the_others() -> None:
    calls: list[int] = []
    started = asyncio.Event()

    async def loader() -> str:
        calls.append(1)
        started.set()
        await asyncio.sleep(0.1)
        return "value"

    async with TieredCache() as cache:
        first = asyncio.create_task(cache.get_or_load("k", "api", loader))
        await started.wait()
        others = [asyncio.create_task(cache.get_or_load("k", "api", loader)) for _ in range(5)]
        await asyncio.sleep(0)
        first.cancel()
        assert await asyncio.gather(*others) == ["value"] * 5
        with pytest.raises(asyncio.CancelledError):
            await first
        assert len(calls) == 1
        assert await cache.get("k", "api") == "value"  # the load still filled the cache


async def test_loader_error_reaches_every_waiter_and_is_not_cached() -> None:
    calls: list[int] = []

    async def failing() -> str:
        calls.append(1)
        await asyncio.sleep(0.02)
        raise RuntimeError("source down")

    async with TieredCache() as cache:
        results = await asyncio.gather(
            *(cache.get_or_load("k", "api", failing) for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) and "source down" in str(r) for r in results)
        assert len(calls) == 1
        assert await cache.get_or_load("k", "api", counter_loader(calls, "ok")) == "ok"
        assert len(calls) == 2
        assert cache.stats()["namespaces"]["api"]["loader_errors"] == 1


async def test_batches_are_one_round_trip_each(disposable_redis: RedisServer) -> None:
    async with aioredis.Redis.from_url(disposable_redis.url) as raw:
        async with TieredCache(disposable_redis.url, batch_size=1000) as cache:
            await cache.get("warm-up", "queries")  # loads the read script once (NOSCRIPT path)
            await raw.config_resetstat()
            items = {f"k{i}": {"i": i} for i in range(200)}
            await cache.set_many(items, "queries")
            cache.l1.clear()
            hits = await cache.get_many([*items, "absent"], "queries")
            assert hits == items
            stats = await raw.info("commandstats")
            assert stats["cmdstat_mset"]["calls"] == 1  # one pipelined write for 200 keys
            assert stats["cmdstat_evalsha"]["calls"] == 1  # one scripted read for 201 keys
            assert "cmdstat_set" not in stats and "cmdstat_mget" not in stats
            ns = cache.stats()["namespaces"]["queries"]
            assert (ns["l2"]["hits"], ns["misses"]) == (200, 2)
            assert await cache.get_many(list(items), "queries") == items  # all from L1 now
            assert (await raw.info("commandstats"))["cmdstat_evalsha"]["calls"] == 1


async def test_redis_stopped_mid_run_then_back(disposable_redis: RedisServer) -> None:
    calls: list[int] = []
    async with TieredCache(disposable_redis.url, backoff_s=0.05, max_backoff_s=0.2) as cache:
        await cache.set("warm", "from-l1", "queries")
        disposable_redis.stop()

        assert await cache.get("warm", "queries") == "from-l1"
        got = await cache.get_or_load("cold", "queries", counter_loader(calls, "loaded"))
        assert got == "loaded" and calls == [1]
        await cache.set("new", 1, "queries")  # dropped in L2, never raised
        assert await cache.get_many(["warm", "new", "nope"], "queries") == {
            "warm": "from-l1",
            "new": 1,
        }
        await cache.delete("warm", "queries")
        redis_stats = cache.stats()["redis"]
        assert redis_stats["state"] == "down"
        assert redis_stats["failures"] >= 1 and redis_stats["dropped_writes"] >= 1

        disposable_redis.start()  # same port, empty data
        await asyncio.sleep(0.3)  # past the back-off
        await cache.set("after", "in-redis", "queries")
        async with aioredis.Redis.from_url(disposable_redis.url) as raw:
            stored = await raw.get(cache.redis_key("after", "queries"))
            assert stored is not None and serialization.loads(stored) == "in-redis"
        assert cache.stats()["redis"]["state"] == "up"
        assert cache.stats()["redis"]["recoveries"] >= 1


async def test_redis_unreachable_at_start_is_not_an_error() -> None:
    calls: list[int] = []
    async with TieredCache("redis://127.0.0.1:1/0", redis_timeout_s=0.1) as cache:
        assert await cache.get_or_load("k", "api", counter_loader(calls, "v")) == "v"
        assert await cache.get("k", "api") == "v"
        assert cache.stats()["redis"]["state"] == "down"


async def test_hung_redis_times_out_fast_and_degrades(disposable_redis: RedisServer) -> None:
    import signal

    async with TieredCache(disposable_redis.url, redis_timeout_s=0.1, backoff_s=5) as cache:
        await cache.set("k", "v", "api")
        assert disposable_redis.process is not None
        disposable_redis.process.send_signal(signal.SIGSTOP)
        try:
            assert await cache.get("other", "api", default="miss") == "miss"
            assert cache.stats()["redis"]["state"] == "down"
            assert await cache.get("k", "api") == "v"
            assert cache.stats()["redis"]["skipped_calls"] == 0  # L1 hit: no Redis call
            assert await cache.get("other2", "api") is None
            assert cache.stats()["redis"]["skipped_calls"] == 1  # backing off
        finally:
            disposable_redis.process.send_signal(signal.SIGCONT)


async def test_foreign_bytes_in_redis_are_a_counted_miss(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    calls: list[int] = []
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        rkey = cache.redis_key("evil", "api")
        await raw_redis.set(rkey, pickle.dumps({"payload": 1}))
        assert await cache.get("evil", "api", default="miss") == "miss"
        assert await cache.get_many(["evil"], "api") == {}
        assert cache.stats()["namespaces"]["api"]["foreign_values"] == 2
        assert await cache.get_or_load("evil", "api", counter_loader(calls, "fresh")) == "fresh"
        stored = await raw_redis.get(rkey)
        assert stored is not None and serialization.loads(stored) == "fresh"  # overwritten


async def test_values_that_cannot_be_encoded(key_prefix: str) -> None:
    async with TieredCache(key_prefix=key_prefix) as cache:
        with pytest.raises(CacheSerializationError, match="set"):
            await cache.set("k", {1, 2}, "api")
        await cache.set_many({"ok": 1, "bad": {3}}, "api")  # skipped, counted
        assert await cache.get_many(["ok", "bad"], "api") == {"ok": 1}
        assert cache.stats()["namespaces"]["api"]["unencodable"] == 1


async def test_cached_none_is_a_hit_not_a_miss() -> None:
    calls: list[int] = []
    async with TieredCache() as cache:
        assert await cache.get_or_load("k", "api", counter_loader(calls, None)) is None
        assert await cache.get_or_load("k", "api", counter_loader(calls, None)) is None
        assert len(calls) == 1
        assert await cache.get("k", "api", default="miss") is None


async def test_namespaces_are_an_allow_list() -> None:
    async with TieredCache(ttls={"reports": 60}) as cache:
        assert set(DEFAULT_TTLS) | {"reports"} == set(cache.namespaces)
        with pytest.raises(UnknownNamespaceError, match="embeddings") as info:
            await cache.get("k", "deals")
        assert "deals" in str(info.value) and isinstance(info.value, LookupError)
        cache.register_namespace("deals", 10)
        await cache.set("k", 1, "deals")
        assert await cache.get("k", "deals") == 1
        with pytest.raises(ConfigurationError):
            cache.register_namespace("bad:name", 10)
        with pytest.raises(ConfigurationError):
            cache.register_namespace("zero", 0)
    with pytest.raises(ConfigurationError, match="redis://"):
        async with TieredCache("http://localhost:6379"):
            pass


async def test_delete_and_clear_hit_both_tiers(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        await cache.set_many({"a/1": 1, "a/2": 2, "b/1": 3}, "config")
        await cache.set("x", 9, "api")
        await cache.delete("x", "api")
        assert await raw_redis.exists(cache.redis_key("x", "api")) == 0
        assert await cache.get("x", "api") is None
        await cache.clear("config", "a/")
        assert await cache.get_many(["a/1", "a/2", "b/1"], "config") == {"b/1": 3}
        assert await raw_redis.exists(cache.redis_key("a/1", "config")) == 0


async def test_warm_fills_both_tiers_in_batches(redis_server: RedisServer, key_prefix: str) -> None:
    batches: list[list[str]] = []

    async def load(keys: list[str]) -> dict[str, Any]:
        batches.append(keys)
        return {k: {"id": k} for k in keys}

    keys = [f"deal{i}" for i in range(25)]
    async with TieredCache(redis_server.url, key_prefix=key_prefix, batch_size=10) as cache:
        assert await cache.warm("queries", keys, load) == {"cached": 0, "loaded": 25}
        assert [len(b) for b in batches] == [10, 10, 5]
        assert await cache.warm("queries", keys, load) == {"cached": 25, "loaded": 0}
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as other:
        assert len(await other.get_many(keys, "queries")) == 25  # they are in Redis


async def test_cross_process_lock_loads_once(redis_server: RedisServer, key_prefix: str) -> None:
    """Two caches (as two processes would) sharing Redis: one load between them."""
    calls: list[int] = []
    loader = counter_loader(calls, np.arange(4, dtype=np.float32), delay=0.15)
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=2.0) as a,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=2.0) as b,
    ):
        va, vb = await asyncio.gather(
            a.get_or_load("emb", "embeddings", loader), b.get_or_load("emb", "embeddings", loader)
        )
        np.testing.assert_array_equal(va, vb)
        assert len(calls) == 1
        for cache in (a, b):  # losing the lock race is not a Redis error
            assert cache.stats()["redis"]["errors"] == 0
        async with aioredis.Redis.from_url(redis_server.url) as raw:
            assert await raw.exists(a.redis_key("emb", "embeddings") + ":lock") == 0  # released
            await raw.delete(a.redis_key("emb", "embeddings"))
