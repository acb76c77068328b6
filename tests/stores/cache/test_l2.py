"""The L2's load locks on a real Redis: claimed in one round trip, released only by
their holder's token; and a URL's password is never logged."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis

from stores.cache.l2 import RedisTier
from stores.cache.stats import RedisHealth
from tests.conftest import RedisServer


async def test_claim_reads_or_locks_and_unlock_releases_only_the_callers_own_locks(
    redis_server: RedisServer, raw_redis: aioredis.Redis, key_prefix: str
) -> None:
    tier = RedisTier(redis_server.url, RedisHealth(True, backoff_s=1.0, max_backoff_s=1.0))
    await tier.open()
    try:
        a, b, c = (f"{key_prefix}queries:{n}" for n in "abc")
        await raw_redis.set(c, b"cached", px=60_000)
        pairs = [(k, f"{k}:lock") for k in (a, b, c)]
        # a and b: locks won; c: the value is there (read in the same round trip)
        first = await tier.claim(pairs, "mine", ttl_s=30)
        assert [s for s, _, _ in first] == [1, 1, 2]
        assert first[2][1] == b"cached" and 0 < first[2][2] <= 60_000
        # held: nobody else gets them; the answer carries the lock's remaining TTL
        second = await tier.claim(pairs[:2], "theirs", ttl_s=30)
        assert [s for s, _, _ in second] == [0, 0] and all(0 < p <= 30_000 for *_, p in second)
        await tier.unlock([f"{a}:lock", f"{b}:lock"], "someone-elses-token")
        assert await raw_redis.get(f"{a}:lock") == b"mine"
        # writing a value releases its lock in the same script; b's lock is released alone
        await tier.set_many_and_unlock([(a, b"loaded")], 60, [f"{a}:lock"], "mine")
        assert await raw_redis.get(a) == b"loaded" and await raw_redis.exists(f"{a}:lock") == 0
        await tier.unlock([f"{b}:lock"], "mine")
        assert await raw_redis.exists(f"{b}:lock") == 0
        assert tier.health.snapshot()["errors"] == 0
    finally:
        await tier.close()


async def test_a_redis_url_with_a_password_is_never_logged_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tier = RedisTier(
        "redis://:hunter2@127.0.0.1:1/0", RedisHealth(True, backoff_s=1.0, max_backoff_s=1.0)
    )
    with caplog.at_level(logging.WARNING, logger="stores.cache.l2"):
        await tier.open()  # nothing listens on port 1: a warning names the URL
    await tier.close()
    assert "127.0.0.1:1" in caplog.text and "hunter2" not in caplog.text
