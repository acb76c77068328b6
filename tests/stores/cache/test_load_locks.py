"""Load locks across processes: two `TieredCache`s (each its own L1) sharing one real Redis.

Each cache stands for a process. Claims are one round trip per batch; a key another cache
holds is waited for until it lands, its lock expires (a dead holder) or is released
without a value (a failed load); Redis down means "no lock", never an error.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from stores.cache.tiered import TieredCache
from tests.conftest import RedisServer

NS = "queries"


async def _locks_left(url: str, key_prefix: str) -> list[bytes]:
    async with aioredis.Redis.from_url(url) as raw:
        return [k async for k in raw.scan_iter(match=f"{key_prefix}*:lock")]


async def test_overlapping_claims_split_the_keys_and_the_waiter_gets_the_holders_values(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as a,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=10.0) as b,
    ):
        first = await a.claim_loads(["k1", "k2", "k3"], NS)
        second = await b.claim_loads(["k2", "k3", "k4"], NS)
        assert (first.mine, first.theirs, first.found) == (["k1", "k2", "k3"], [], {})
        assert (second.mine, second.theirs) == (["k4"], ["k2", "k3"])

        async def holder_finishes() -> None:
            await asyncio.sleep(0.2)
            await a.complete_loads(first, {"k1": 1, "k2": 2, "k3": 3})

        started = time.monotonic()
        landed, _ = await asyncio.gather(b.await_loads(second), holder_finishes())
        assert landed == {"k2": 2, "k3": 3}
        assert time.monotonic() - started < 5.0  # seen once it landed, not at the lock TTL
        assert second.waited_s > 0
        await b.complete_loads(second, {"k4": 4})
        await a.release_loads(first)
        await b.release_loads(second)
        assert await _locks_left(redis_server.url, key_prefix) == []  # released with the write
        everything = {"k1": 1, "k2": 2, "k3": 3, "k4": 4}
        assert await b.get_many(list(everything), NS) == everything
        counts = b.stats()["namespaces"][NS]
        assert (counts["loads_elsewhere"], counts["waits_given_up"]) == (2, 0)
        # a claim after the holder stored: the values come back with it, nothing is locked
        late = await b.claim_loads(["k1"], NS)
        assert (late.found, late.mine, late.theirs) == ({"k1": 1}, [], [])


async def test_a_dead_holder_delays_the_other_at_most_the_lock_ttl(
    redis_server: RedisServer, key_prefix: str
) -> None:
    ttl = 1.0
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=ttl) as dead,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=ttl) as alive,
    ):
        assert (await dead.claim_loads(["k"], NS)).mine == ["k"]  # ...and never completes
        started = time.monotonic()
        claim = await alive.claim_loads(["k"], NS)
        assert claim.theirs == ["k"]
        assert await alive.await_loads(claim) == {}  # nothing landed: load it yourself
        waited = time.monotonic() - started
        assert 0.5 * ttl <= waited < ttl + 1.0
        # the expired lock was won on the way: storing the value releases it
        await alive.complete_loads(claim, {"k": "v"})
        await alive.release_loads(claim)
        assert await _locks_left(redis_server.url, key_prefix) == []
        assert alive.stats()["namespaces"][NS]["waits_given_up"] == 1


async def test_a_holder_whose_load_failed_releases_and_the_waiter_loads_at_once(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=30.0) as a,
        TieredCache(redis_server.url, key_prefix=key_prefix, lock_ttl_s=30.0) as b,
    ):
        failed = await a.claim_loads(["k"], NS)
        claim = await b.claim_loads(["k"], NS)

        async def holder_fails() -> None:
            await asyncio.sleep(0.1)
            await a.release_loads(failed)  # the load raised: no value, lock released

        started = time.monotonic()
        landed, _ = await asyncio.gather(b.await_loads(claim), holder_fails())
        assert landed == {}
        assert time.monotonic() - started < 10.0  # far below the 30 s TTL
        async with aioredis.Redis.from_url(redis_server.url) as raw:  # b holds it now
            assert await raw.get(b.redis_key("k", NS) + ":lock") == claim.token.encode()
        await b.release_loads(claim)
        assert await _locks_left(redis_server.url, key_prefix) == []


async def test_redis_down_means_no_lock_and_no_error(disposable_redis: RedisServer) -> None:
    async with (
        TieredCache(disposable_redis.url, lock_ttl_s=30.0) as a,
        TieredCache(disposable_redis.url, lock_ttl_s=30.0) as b,
    ):
        held = await a.claim_loads(["k"], NS)
        waiting = await b.claim_loads(["k", "other"], NS)
        assert waiting.theirs == ["k"]
        task = asyncio.ensure_future(b.await_loads(waiting))
        await asyncio.sleep(0.1)
        disposable_redis.stop()  # Redis goes away mid-wait: stop waiting, load it here
        started = time.monotonic()
        assert await task == {}
        assert time.monotonic() - started < 10.0
        # later claims: every key is this caller's, with no Redis I/O
        assert (await a.claim_loads(["k", "x"], NS)).mine == ["k", "x"]
        await a.complete_loads(held, {"k": 1})  # dropped L2 write, kept in L1
        await a.release_loads(held)
        assert await a.get_many(["k"], NS) == {"k": 1}
        assert a.stats()["redis"]["state"] == "down"


async def test_without_a_lock_ttl_claims_cost_nothing(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        claim = await cache.claim_loads(["a", "b"], NS)
        assert (claim.mine, claim.theirs, claim.token) == (["a", "b"], [], "")
        assert await cache.await_loads(claim) == {}
        await cache.complete_loads(claim, {"a": 1, "b": 2})
        assert await _locks_left(redis_server.url, key_prefix) == []
        assert cache.stats()["redis"]["skipped_calls"] == 0


async def test_get_or_load_with_locks_reads_or_locks_in_one_round_trip(
    disposable_redis: RedisServer,
) -> None:
    calls: list[str] = []

    async def loader() -> str:
        calls.append("load")
        return "v"

    async with (
        aioredis.Redis.from_url(disposable_redis.url) as raw,
        TieredCache(disposable_redis.url, lock_ttl_s=10.0) as cache,
    ):
        await cache.get_or_load("warm-up", NS, loader)  # loads the scripts (NOSCRIPT path)
        await raw.config_resetstat()
        assert await cache.get_or_load("k", NS, loader) == "v"  # claim; write + release
        assert (await raw.info("commandstats"))["cmdstat_evalsha"]["calls"] == 2
        cache.l1.clear()
        assert await cache.get_or_load("k", NS, loader) == "v"  # the claim reads it: no lock
        assert (await raw.info("commandstats"))["cmdstat_evalsha"]["calls"] == 3
        assert [k async for k in raw.scan_iter(match="*:lock")] == []
        assert len(calls) == 2
        counts = cache.stats()["namespaces"][NS]
        assert (counts["l2"]["hits"], counts["loads_elsewhere"]) == (1, 0)
