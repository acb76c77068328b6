"""The L2's load lock on a real Redis: only its holder's token releases it."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis

from stores.cache.l2 import RedisTier
from stores.cache.stats import RedisHealth
from tests.conftest import RedisServer


async def test_unlock_releases_only_the_callers_own_lock(
    redis_server: RedisServer, raw_redis: aioredis.Redis, key_prefix: str
) -> None:
    tier = RedisTier(redis_server.url, RedisHealth(True, backoff_s=1.0, max_backoff_s=1.0))
    await tier.open()
    try:
        key = f"{key_prefix}emb:lock"
        mine = await tier.try_lock(key, ttl_s=30)
        assert mine is not None
        assert await tier.try_lock(key, ttl_s=30) is None  # held: nobody else gets it
        await tier.unlock(key, "someone-elses-token")  # e.g. a holder whose lock expired
        assert await raw_redis.get(key) == mine.encode()
        await tier.unlock(key, mine)
        assert await raw_redis.exists(key) == 0
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
