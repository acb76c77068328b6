"""The worker's parts that need no cluster: the stalled-run check's cadence, the pool a
worker sizes, the queue's settings, and run events through a real Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import pytest

from graphs.workers.event_hub import EventHub
from graphs.workers.events import END, IDLE, RunEvents
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


async def test_one_hub_follows_many_runs_in_order_over_a_few_connections(
    redis_server: RedisServer, key_prefix: str
) -> None:
    import redis.asyncio as aioredis

    # A client of 3 connections: a follower per run, each blocked in its own read, failed
    # past the pool; the hub reads every run in one blocking read.
    client = aioredis.Redis.from_url(redis_server.url, max_connections=3,
                                     socket_timeout=10)  # fmt: skip
    hub = EventHub(client, block_ms=200)
    try:
        events = RunEvents(client)
        runs = [f"{key_prefix}run{i}" for i in range(40)]
        inboxes = {run: hub.subscribe(run) for run in runs}
        await asyncio.sleep(0.3)  # the hub is blocked in its read when the events come
        for run in runs:
            await events.publish(run, "values", {"run": run, "at": dt.date(2026, 1, 2)})
            await events.publish(run, "updates", {"node": {"n": 2}})
            await events.end(run, {"status": "complete"})

        async def drained(inbox: asyncio.Queue[Any]) -> list[tuple[str, Any]]:
            got = []
            while not got or got[-1][0] != END:
                _entry, event, data = await inbox.get()
                if event != IDLE:
                    got.append((event, data))
            return got

        seen = await asyncio.wait_for(
            asyncio.gather(*(drained(inboxes[run]) for run in runs)), 60
        )
        for run, got in zip(runs, seen, strict=True):
            assert got == [("values", {"run": run, "at": "2026-01-02"}),  # the service's JSON
                           ("updates", {"node": {"n": 2}}), (END, {"status": "complete"})]
        late = hub.subscribe(runs[0], after="0-0")  # a late follower replays from the first
        assert (await drained(late))[0] == seen[0][0]
        assert await events.exists(runs[0])
    finally:
        await hub.aclose()
        await client.aclose()
