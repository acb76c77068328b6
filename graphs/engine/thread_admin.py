"""Deleting, copying and pruning whole threads: their rows (`graphs.durable.threads`)
and their checkpoints, through LangGraph's checkpointer API (``adelete_thread``,
``acopy_thread``, ``aprune``).

Checkpoints go first when a thread is deleted (a failure leaves the thread in place,
to delete again, never checkpoints without a thread); a copy's row comes first and is
removed again when its checkpoints cannot be copied. A checkpointer without
``acopy_thread`` (LangGraph's Postgres saver) is copied checkpoint by checkpoint with its
own ``alist`` / ``aput`` / ``aput_writes``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from graphs.durable.threads import ThreadRecord
from graphs.engine.run_record import error_text

if TYPE_CHECKING:
    from graphs.engine.engine import Engine

logger = logging.getLogger(__name__)


class PruneNotSupportedError(NotImplementedError):
    """The checkpoint store cannot prune a thread's checkpoints to its latest."""


async def delete_threads(engine: Engine, thread_ids: Sequence[str]) -> list[str]:
    """Delete the threads, their checkpoints and their run and cron records; the ids of
    the threads that existed."""
    durable = engine.durable
    for thread_id in dict.fromkeys(thread_ids):
        await engine.threads.guard_store(durable.checkpointer.adelete_thread(thread_id))
    return await durable.threads.delete(thread_ids)


async def copy_thread(engine: Engine, source: ThreadRecord, *, owner: str | None) -> ThreadRecord:
    """A new thread of `owner` with `source`'s metadata, config, values and every
    checkpoint (so its history and state are `source`'s)."""
    durable = engine.durable
    record = await durable.threads.copy(source, owner=owner)
    try:
        await engine.threads.guard_store(
            copy_checkpoints(durable.checkpointer, source.thread_id, record.thread_id)
        )
    except BaseException:
        try:
            await delete_threads(engine, [record.thread_id])
        except Exception as exc:
            logger.warning("thread %s: half-made copy not removed: %s", record.thread_id,
                           error_text(exc))  # fmt: skip
        raise
    return record


async def copy_checkpoints(
    checkpointer: BaseCheckpointSaver[Any], source: str, target: str
) -> None:
    """Copy every checkpoint and pending write of thread `source` to thread `target`."""
    try:
        await checkpointer.acopy_thread(source, target)
        return
    except NotImplementedError:
        pass
    saved = [t async for t in checkpointer.alist({"configurable": {"thread_id": source}})]
    for item in reversed(saved):  # oldest first, as they were written
        conf = item.config["configurable"]
        parent = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        where: RunnableConfig = {"configurable": {
            "thread_id": target, "checkpoint_ns": conf.get("checkpoint_ns", ""),
            **({"checkpoint_id": parent} if parent else {}),
        }}  # fmt: skip
        written = await checkpointer.aput(
            where, item.checkpoint, item.metadata, dict(item.checkpoint["channel_versions"])
        )
        writes: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for task_id, channel, value in item.pending_writes or ():
            writes[task_id].append((channel, value))
        for task_id, task_writes in writes.items():
            await checkpointer.aput_writes(written, task_writes, task_id)


async def keep_latest(engine: Engine, thread_ids: Sequence[str]) -> None:
    """Drop every checkpoint of the threads but each namespace's latest (the threads, their
    state and their rows stay); PruneNotSupportedError when the store cannot."""
    checkpointer = engine.durable.checkpointer
    try:
        await engine.threads.guard_store(
            checkpointer.aprune(list(thread_ids), strategy="keep_latest")
        )
    except NotImplementedError as exc:
        raise PruneNotSupportedError(type(checkpointer).__name__) from exc
