"""What a start of the service does about the runs earlier processes left behind.

- Runs a shutdown suspended (``pending`` with ``resume_on_start``: see
  `graphs.server.langgraph_api.runs.RunManager.drain`) are claimed one by one (so with
  several processes on one database each resumes once) and continued: from their
  thread's last checkpoint when they had reached it (the latest checkpoint is their own),
  else from their input or command.
- Runs still ``pending`` or ``running`` from before this start belong to a process that
  died (SIGKILL, power loss): they are marked ``failed``, and their threads, and any
  thread whose row still says ``busy``, get their status from their checkpoint again, so
  a dead process never leaves a thread busy for ever. (With several worker processes, a
  worker that restarts does the same to the runs of the others that are running just
  then; those correct their records when they end.)
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from langgraph.types import Command

from graphs.durable.runs import RESUME_FLAG
from graphs.engine.run_input import RunInput
from graphs.engine.run_record import RunRecord
from graphs.server.langgraph_api.execution import RunExecution
from stores.errors import SophiaError

if TYPE_CHECKING:
    from graphs.server.langgraph_api.runs import RunManager

logger = logging.getLogger(__name__)

ABANDONED = "the server stopped while the run executed"
MAX_STALE_THREADS = 1000


async def recover(manager: RunManager) -> int:
    """Resume what the last shutdown left; close what a dead process left (see the
    module docstring); how many runs this process resumed."""
    try:
        durable = manager.engine.durable
        await durable.ensure_ready()
        left = await durable.runs.resumable()
    except SophiaError as exc:
        logger.warning("cannot look for runs to resume: %s", exc)
        return 0
    taken = 0
    for record, owner in left:
        if record.graph not in manager.engine.graph_names():
            continue
        if not await durable.runs.claim(record.run_id):
            continue  # another process took it
        record.kwargs = {k: v for k, v in record.kwargs.items() if k != RESUME_FLAG}
        record.status = "pending"
        try:
            run_input, command = await resumption(manager, record)
        except SophiaError as exc:
            record.finish("failed", error=exc)
            await durable.runs.put(record, owner=owner)
            continue
        await manager.launch_resumed(RunExecution(record, owner=owner), run_input, command)
        taken += 1
    if taken:
        logger.warning("resumed %d runs left by the last shutdown", taken)
    await _close_abandoned(manager)
    return taken


async def resumption(
    manager: RunManager, record: RunRecord
) -> tuple[RunInput | None, Command[Any] | None]:
    """How to continue `record` (see the module docstring)."""
    assert record.thread_id is not None  # only runs on a thread are suspended
    snapshot = await manager.engine.get_state(record.graph, record.thread_id)
    if (snapshot.metadata or {}).get("run_id") == uuid.UUID(record.run_id).hex:
        return None, None
    raw_command = record.kwargs.get("command")
    if raw_command:
        return None, Command(**{k: v for k, v in raw_command.items() if v is not None})
    state = record.kwargs.get("input")
    return (RunInput(record.graph, state) if state is not None else None), None


async def _close_abandoned(manager: RunManager) -> None:
    durable, engine = manager.engine.durable, manager.engine
    try:
        threads = set(await durable.runs.abandon(manager.started_at, ABANDONED))
        busy = await durable.threads.search(MAX_STALE_THREADS, status="busy")
    except SophiaError as exc:
        logger.warning("cannot close the runs of a stopped process: %s", exc)
        return
    stale = {t.thread_id: t.graph_id for t in busy}
    stale.update({t: None for t in threads if t is not None and t not in stale})
    for thread_id, graph in stale.items():
        if thread_id in manager.active:
            continue
        if graph is None:
            record = await durable.threads.get(thread_id)
            graph = record.graph_id if record is not None else None
        if graph in engine.graph_names():
            await engine.threads.settle(graph, thread_id)
    if threads:
        logger.warning("%d runs of a stopped process marked failed", len(threads))
