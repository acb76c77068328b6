"""The worker's parts that need no cluster: the stalled-run check's cadence, the pool a
worker sizes, the queue's settings, and run events through a real Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import pytest

from graphs.workers.events import END, IDLE, RunEvents, redis_client
from graphs.workers.queue import STALLED_CHECK_CRON
from graphs.workers.worker import sized_for
from stores.errors import ConfigurationError
from stores.settings import Settings
from tests.conftest import RedisServer


def test_the_stalled_run_check_fires_every_five_seconds() -> None:
    from croniter import croniter

    times = croniter(STALLED_CHECK_CRON, dt.datetime(2026, 1, 1, 0, 1, 2))
    fired = [times.get_next(dt.datetime) for _ in range(13)]
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(fired)}
    assert gaps == {5.0}  # every 5 s, across minutes, not every second of some minutes


def test_a_worker_pool_has_a_connection_per_run_slot_unless_set() -> None:
    assert sized_for(Settings(), 20).pool_max_size == 20
    assert sized_for(Settings(), 2).pool_max_size == Settings().pool_max_size
    assert sized_for(Settings(pool_max_size=4), 20).pool_max_size == 4  # the operator's


def test_the_queue_refuses_to_start_without_its_services() -> None:
    with pytest.raises(ConfigurationError, match="SOPHIA_POSTGRES_URL and SOPHIA_REDIS_URL"):
        Settings(run_queue="postgres")
    with pytest.raises(ConfigurationError, match="SOPHIA_REDIS_URL"):
        Settings(run_queue="postgres", postgres_url="postgresql://db/x")


async def test_events_are_followed_in_order_resumed_after_an_entry_and_end(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client = redis_client(redis_server.url)
    try:
        events, run_id = RunEvents(client), f"{key_prefix}run"
        assert not await events.exists(run_id)
        followed: list[tuple[str, object]] = []

        async def follow() -> None:
            async for _entry, event, data in events.follow(run_id, block_ms=100):
                followed.append((event, data))

        reader = asyncio.create_task(follow())
        await events.publish(run_id, "values", {"n": 1, "at": dt.date(2026, 1, 2)})
        await events.publish(run_id, "updates", {"node": {"n": 2}})
        await events.end(run_id, {"status": "complete"})
        await asyncio.wait_for(reader, 30)
        seen = [(e, d) for e, d in followed if e != IDLE]
        assert seen == [("values", {"n": 1, "at": "2026-01-02"}),  # the service's JSON
                        ("updates", {"node": {"n": 2}}), (END, {"status": "complete"})]
        entries = [entry async for entry, e, _ in events.follow(run_id) if e != IDLE]
        rest = [e async for _, e, _ in events.follow(run_id, after=entries[0])]
        assert rest == ["updates", END]  # a follower that lost its place resumes after it
        assert await events.exists(run_id)
    finally:
        await client.aclose()
