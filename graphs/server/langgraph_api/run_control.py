"""What the run manager does to runs beside executing them: roll one back, delete one,
pick the runs a bulk cancel names, send a webhook, and say what a failure was.

A rollback (``multitask_strategy='rollback'``, ``cancel?action=rollback``) is what
LangGraph documents: the run is stopped, then its record and every checkpoint it wrote
are deleted, so its thread is as it was before the run started. A run that executes in
another process cannot be stopped from here (409).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from graphs.durable.errors import CheckpointStoreError, UnknownThreadError
from graphs.durable.run_checkpoints import delete_for_runs
from graphs.engine.commands import StateSchema, check_command
from graphs.engine.errors import GraphError, InvalidInputError
from graphs.engine.run_input import RunInput
from graphs.engine.run_record import RunRecord, RunStatus
from graphs.server.caller import Caller
from graphs.server.langgraph_api import webhooks
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.execution import RunExecution
from graphs.server.langgraph_api.run_models import RunCommand, RunCreate
from graphs.server.langgraph_api.run_plan import RunPlan, plan_run
from graphs.server.langgraph_api.views import run_of

if TYPE_CHECKING:
    from graphs.engine.engine import Engine
    from graphs.server.langgraph_api.runs import RunManager

logger = logging.getLogger(__name__)

UNFINISHED: tuple[RunStatus, ...] = ("pending", "running")


async def own_thread(
    engine: Engine, caller: Caller, thread_id: str, if_not_exists: str | None
) -> None:
    """UnknownThreadError (404) unless `thread_id` is the caller's; with ``if_not_exists=
    'create'`` a thread that does not exist is made for the caller instead."""
    durable = engine.durable
    await durable.ensure_ready()
    if await durable.threads.get(thread_id, owner=caller.tenant) is None:
        if if_not_exists != "create":
            raise UnknownThreadError(thread_id)
        await durable.threads.create(thread_id, {}, owner=caller.tenant,
                                     if_exists="do_nothing")  # fmt: skip


async def checked_command(
    manager: RunManager, caller: Caller, graph_id: str, thread_id: str, raw: RunCommand
) -> Command[Any]:
    """The run's command, checked against the graph and the thread's waiting interrupts
    (`graphs.engine.commands`)."""
    engine = manager.engine
    schema = manager.schemas.get(graph_id)
    if schema is None:
        schema = StateSchema(engine.spec(graph_id), engine.state_schema(graph_id))
        manager.schemas[graph_id] = schema
    pending = []
    if raw.resume is not None:
        pending = list((await engine.get_state(graph_id, thread_id)).interrupts)
    return check_command(schema, resume=raw.resume, update=raw.update, goto=raw.goto,
                         pending=pending, subject=caller.subject)  # fmt: skip


async def check_checkpoint(engine: Engine, thread_id: str, checkpoint_id: str | None) -> None:
    """ApiError 404 unless `checkpoint_id` (if any) is a checkpoint of `thread_id`."""
    if checkpoint_id is None:
        return
    config: RunnableConfig = {"configurable": {
        "thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id,
    }}  # fmt: skip
    found = await engine.threads.guard_store(engine.durable.checkpointer.aget_tuple(config))
    if found is None:
        raise ApiError(404, f"checkpoint {checkpoint_id[:100]} not found on thread "
                       f"{thread_id[:100]}")  # fmt: skip


async def roll_back(manager: RunManager, run: RunExecution) -> None:
    """Delete stopped `run`: its record and the checkpoints it wrote; its thread's row
    then shows the thread as it is without them."""
    await manager.cancel(run)
    await delete_record(manager, run.record, run.owner)
    manager.forget(run)


async def delete_record(manager: RunManager, record: RunRecord, owner: str | None) -> None:
    """Delete a finished run's record and its checkpoints (its thread settled again)."""
    engine = manager.engine
    durable = engine.durable
    thread_id = None if record.kwargs.get("temporary") else record.thread_id
    if thread_id is not None:
        await delete_for_runs(durable, [uuid.UUID(record.run_id).hex])
    await durable.runs.delete(record.run_id, owner=owner)
    if thread_id is not None and thread_id not in manager.active:
        await engine.threads.settle(record.graph, thread_id)


async def runs_to_cancel(
    manager: RunManager,
    owner: str | None,
    *,
    thread_id: str | None,
    run_ids: Sequence[str] | None,
    status: str | None,
) -> list[RunExecution]:
    """The caller's unfinished runs a bulk cancel names (thread, ids, status: every one
    given applies). ApiError 404 for a run id the caller has not; 409 when one of them
    executes in another process (nothing is cancelled then)."""
    wanted: tuple[RunStatus, ...] = UNFINISHED if status in (None, "all") else (status,)  # type: ignore[assignment]
    durable = manager.engine.durable
    await durable.ensure_ready()
    if run_ids:
        records = []
        for run_id in dict.fromkeys(run_ids):
            record = await durable.runs.get(run_id, owner=owner)
            if record is None or (thread_id is not None and record.thread_id != thread_id):
                raise ApiError(404, f"run {run_id[:100]} not found")
            records.append(record)
        records = [r for r in records if r.status in wanted]
    else:
        records = await durable.runs.list(thread_id=thread_id, status=wanted, owner=owner,
                                          limit=10_000)  # fmt: skip
    found = []
    for record in records:
        run = manager.get(record.thread_id, record.run_id, owner)
        if run is None and manager.remote is not None:
            run = await manager.remote.attach(manager, record, owner)
        if run is None:
            raise ApiError(409, f"run {record.run_id} executes in another process; "
                           "cancel it there")  # fmt: skip
        if not run.done.is_set():
            found.append(run)
    return found


async def send_webhook(run: RunExecution) -> None:
    """POST `run`'s outcome to its webhook (`.webhooks`)."""
    url = run.plan.webhook
    if url is None:
        return
    record = run.record
    body = webhooks.payload(
        run_of(record).model_dump(), run.values, run.started_at, record.finished_at,
        (run.error or {}).get("message") if record.status in ("failed", "timeout") else None,
    )  # fmt: skip
    if not await webhooks.send(url, body):
        logger.warning("webhook of run %s was not delivered", record.run_id)


def public_error(exc: Exception, run_id: str) -> dict[str, str]:
    """What a caller is told of a failed run: the engine's input errors and LangGraph's own
    (a recursion limit, an invalid update) as they are; anything else by kind only (its
    text may name files or hosts: the log has it)."""
    if isinstance(exc, GraphError) or type(exc).__module__ == "langgraph.errors":
        return {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, CheckpointStoreError):
        return {"error": "CheckpointStoreError", "message": "the checkpoint store is unavailable"}
    return {"error": "internal", "message": f"run {run_id} failed; the server log has details"}


def command_json(command: Command[Any] | None) -> dict[str, Any] | None:
    """A checked command as the run's ``kwargs.command`` records it."""
    if command is None:
        return None
    goto = list(command.goto) if isinstance(command.goto, list | tuple) else command.goto
    return {"resume": command.resume, "update": command.update, "goto": goto or None}


@dataclass
class CheckedRun:
    """A run request checked before the run exists: how it runs, its input or command,
    the label naming a run without a thread, whether it runs on a new kept thread."""

    plan: RunPlan
    run_input: RunInput | None
    command: Command[Any] | None
    label: str | None
    keep: bool


async def checked_request(
    manager: RunManager,
    caller: Caller,
    graph_id: str,
    thread_id: str | None,
    body: RunCreate,
    config: dict[str, Any],
) -> CheckedRun:
    """Check a run request (see `RunManager.start` for what it raises)."""
    run_input: RunInput | None = None
    command: Command[Any] | None = None
    if body.input is not None and body.command is not None:
        raise InvalidInputError(graph_id, ["give input or command, not both"])
    if body.on_completion is not None and thread_id is not None:
        raise ApiError(422, "on_completion: applies to runs without a thread only")
    label = None
    keep = thread_id is None and body.on_completion == "keep"  # a new thread, kept
    if thread_id is None and not keep:
        if body.command is not None:
            raise InvalidInputError(graph_id, ["command: resuming needs a thread"])
        run_input = manager.engine.validate(graph_id, body.input)  # 422 before the run exists
        label = str(uuid.uuid4())
    plan = plan_run(body, graph=manager.engine.compiled(graph_id), graph_name=graph_id,
                    thread_id=thread_id, threaded=label is None, config=config,
                    webhook_hosts=manager.webhook_hosts)  # fmt: skip
    if keep:
        if body.command is not None or plan.checkpoint_id is not None:
            raise ApiError(422, "on_completion: a new thread has nothing to resume or "
                           "fork: give input only")  # fmt: skip
        run_input = manager.engine.validate(graph_id, body.input, threaded=True)
    elif thread_id is not None:
        await own_thread(manager.engine, caller, thread_id, body.if_not_exists)
        await check_checkpoint(manager.engine, thread_id, plan.checkpoint_id)
        if body.input is not None:
            run_input = manager.engine.validate(graph_id, body.input, threaded=True)
        if body.command is not None:
            command = await checked_command(
                manager, caller, graph_id, thread_id, body.command
            )
    return CheckedRun(plan, run_input, command, label, keep)
