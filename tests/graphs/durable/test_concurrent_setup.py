"""Processes that start at once against a new Postgres database (API servers and workers
of one deployment) all create the durable tables without tripping over each other."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from graphs.durable.store import open_durable
from stores.settings import Settings
from tests.graphs.durable.durable_support import postgres_available, postgres_schema


async def test_many_stores_set_up_one_new_database_at_once(settings: Settings) -> None:
    if not postgres_available():
        pytest.skip("no Postgres on 127.0.0.1:5432")
    with postgres_schema() as url:
        chosen = settings.model_copy(update={"postgres_url": url})
        async with contextlib.AsyncExitStack() as stack:
            stores = [await stack.enter_async_context(open_durable(chosen)) for _ in range(6)]
            await asyncio.gather(*(store.ensure_ready() for store in stores))
            record = await stores[0].threads.create(None, {"who": "first"})
            assert await stores[5].threads.get(record.thread_id) is not None
