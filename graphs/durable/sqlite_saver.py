"""A SQLite checkpointer whose async calls cost one thread hand-off each.

`langgraph-checkpoint-sqlite`'s `AsyncSqliteSaver` goes through aiosqlite, which hands
every cursor, execute, fetch, commit and close to its thread separately: about twenty
hand-offs per run of a one-node graph, which under 50 concurrent threaded runs costs more
than the SQL itself. `ThreadedSqliteSaver` runs the package's own synchronous
`SqliteSaver` methods (same tables, same serialisation, same semantics) on one
dedicated thread, so each `aput`, `aput_writes` or `aget_tuple` is one hand-off, and the
event loop never blocks on SQLite. Calls are serialised on that thread in arrival order.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.sqlite import SqliteSaver

T = TypeVar("T")


class ThreadedSqliteSaver(SqliteSaver):
    """`SqliteSaver` with real async methods, run on `executor` (a single thread).

    The caller owns `conn` and `executor` (create the connection on the executor's
    thread or with ``check_same_thread=False``) and closes them after the graph runs.
    """

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        super().__init__(conn)
        self.executor = executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the saver's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def asetup(self) -> None:
        """Create the tables (idempotent)."""
        await self.run(self.setup)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint tuple for `config` (latest of the thread without an id)."""
        return await self.run(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints matching the arguments, newest first (read in one hand-off)."""

        def collect() -> list[CheckpointTuple]:
            return list(self.list(config, filter=filter, before=before, limit=limit))

        for item in await self.run(collect):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint; returns its config."""
        return await self.run(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Save a task's writes against a checkpoint."""
        await self.run(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of `thread_id`."""
        await self.run(self.delete_thread, thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The package's delta channel history, computed on the saver's thread."""
        return await self.run(self.get_delta_channel_history, config=config, channels=channels)
