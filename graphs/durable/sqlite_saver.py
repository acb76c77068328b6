"""A SQLite checkpointer whose async calls cost one thread hand-off each.

`langgraph-checkpoint-sqlite`'s `AsyncSqliteSaver` goes through aiosqlite, which hands
every cursor, execute, fetch, commit and close to its thread separately: about twenty
hand-offs per run of a one-node graph, which under 50 concurrent threaded runs costs more
than the SQL itself. `ThreadedSqliteSaver` runs the package's own synchronous
`SqliteSaver` methods (same tables, same serialisation, same semantics) on one
dedicated thread, so each `aput`, `aput_writes` or `aget_tuple` is one hand-off, and the
event loop never blocks on SQLite. Calls are serialised on that thread in arrival order.

It also implements what the package's `SqliteSaver` leaves out of LangGraph's
`BaseCheckpointSaver` contract: `copy_thread`, `prune` (``keep_latest`` / ``delete``) and
`delete_for_runs` (checkpoints whose metadata names one of the runs), each in one
transaction.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite import SqliteSaver

T = TypeVar("T")

PRUNE_STRATEGIES = ("keep_latest", "delete")
_KEEP_LATEST = (
    # per (thread, namespace): every checkpoint but the newest, and their writes
    "DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id NOT IN ("
    " SELECT MAX(checkpoint_id) FROM checkpoints"
    " WHERE thread_id = ? AND checkpoint_ns = {table}.checkpoint_ns)"
)


class ThreadedSqliteSaver(SqliteSaver):
    """`SqliteSaver` with real async methods, run on `executor` (a single thread).

    The caller owns `conn` and `executor` (create the connection on the executor's
    thread or with ``check_same_thread=False``) and closes them after the graph runs.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        executor: Executor,
        *,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(conn, serde=serde)
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

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread to another (replacing the target's)."""
        with self.cursor() as cur:
            for table in ("checkpoints", "writes"):
                cur.execute(f"DELETE FROM {table} WHERE thread_id = ?", (target_thread_id,))  # noqa: S608
            cur.execute(
                "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
                " parent_checkpoint_id, type, checkpoint, metadata)"
                " SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,"
                " metadata FROM checkpoints WHERE thread_id = ?",
                (target_thread_id, source_thread_id),
            )
            cur.execute(
                "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path,"
                " idx, channel, type, value)"
                " SELECT ?, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type,"
                " value FROM writes WHERE thread_id = ?",
                (target_thread_id, source_thread_id),
            )

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Keep only each namespace's newest checkpoint (``keep_latest``), or ``delete`` all."""
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread IDs, not a str")
        if strategy not in PRUNE_STRATEGIES:
            raise ValueError(f"unknown prune strategy {strategy!r}; use one of {PRUNE_STRATEGIES}")
        with self.cursor() as cur:
            for thread_id in map(str, thread_ids):
                # writes first: they are matched against the checkpoints still there
                for table in ("writes", "checkpoints"):
                    if strategy == "delete":
                        cur.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))  # noqa: S608
                    else:
                        cur.execute(_KEEP_LATEST.format(table=table), (thread_id, thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) whose metadata names one of `run_ids`."""
        wanted = sorted({str(r) for r in run_ids})
        with self.cursor() as cur:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                doomed = (
                    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints"  # noqa: S608
                    f" WHERE json_extract(CAST(metadata AS TEXT), '$.run_id') IN ({marks})"
                )
                cur.execute(
                    "DELETE FROM writes WHERE (thread_id, checkpoint_ns, checkpoint_id)"  # noqa: S608
                    f" IN ({doomed})",
                    chunk,
                )
                cur.execute(
                    "DELETE FROM checkpoints WHERE json_extract(CAST(metadata AS TEXT),"  # noqa: S608
                    f" '$.run_id') IN ({marks})",
                    chunk,
                )

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread to another."""
        await self.run(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune the threads' checkpoints (see `prune`)."""
        await self.run(self.prune, thread_ids, strategy=strategy)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints the given runs wrote (see `delete_for_runs`)."""
        await self.run(self.delete_for_runs, run_ids)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The package's delta channel history, computed on the saver's thread."""
        return await self.run(self.get_delta_channel_history, config=config, channels=channels)
