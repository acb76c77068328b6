"""A Postgres advisory lock held for a block, for one-time setup across processes.

    async with advisory_lock(conn, KEY):    # conn: a psycopg AsyncConnection (autocommit)
        ...                                  # e.g. create tables

Waiting is done with ``pg_try_advisory_lock`` and short sleeps, not a blocking
``pg_advisory_lock``: a session blocked in a statement holds a snapshot, and
``CREATE INDEX CONCURRENTLY`` (LangGraph's checkpoint migrations) waits for every such
snapshot, so the lock's holder would wait for its waiters: a deadlock Postgres does not
detect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

RETRY_S = 0.1
"""Pause between tries while another process holds the lock."""


@contextlib.asynccontextmanager
async def advisory_lock(conn: Any, key: int) -> AsyncIterator[None]:
    """Hold session advisory lock `key` on `conn` for the block (waiting for it as long
    as another session holds it)."""
    while True:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = await cur.fetchone()
        if row is not None and (row["pg_try_advisory_lock"] if isinstance(row, dict) else row[0]):
            break
        await asyncio.sleep(RETRY_S)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
