"""Runs of the LangGraph SDK API: one asyncio task each, admitted like every other run.

`RunManager.start` checks everything that can be checked up front (the caller's thread,
the input, the command: `graphs.engine.commands`, the thread being busy, the caller's
quotas and the server's queue bound: `graphs.server.limits.Admission`) and raises
before anything runs; the run then executes in its own task: it waits for the thread
(one run per thread at a time), then for a run slot, and must finish within the
server's request timeout (status ``timeout`` otherwise), publishing LangGraph's
``(mode, chunk)`` pairs to subscribers (the SSE streams) and keeping the last values for
`wait`/`join`. A busy thread rejects a second run (`ThreadBusyError`, HTTP 409), queues
it (``multitask_strategy='enqueue'``), or cancels the first (``'interrupt'``).

Each run is the engine's `RunRecord`, written to the run table (`graphs.durable.runs`)
when accepted (``pending``), when it starts (``running``) and when it ends, with its
owner (the caller's tenant), so any process on the same database can answer for it; when
a run on a thread ends, the thread's row gets its status, values and interrupts
(`graphs.engine.threads.Threads.settle`), so listing threads reads no checkpoint.

On shutdown (`drain`) no run starts any more; running ones get the grace period; what
is left is cancelled (its completed supersteps stay checkpointed) and, when it runs on a
thread, marked ``pending`` with ``resume_on_start``, so the next start of the service
(`recover`, on any process sharing the database) continues it from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from langgraph.types import Command, StreamMode

from graphs.durable.errors import CheckpointStoreError, ThreadBusyError, UnknownThreadError
from graphs.durable.runs import RESUME_FLAG
from graphs.engine.commands import StateSchema, check_command
from graphs.engine.errors import GraphError, InvalidInputError
from graphs.engine.run_input import RunInput
from graphs.engine.run_record import RunRecord
from graphs.server.caller import Caller
from graphs.server.langgraph_api.assistants import with_assistant
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.execution import RunExecution, ThreadLocks, stream_modes
from graphs.server.langgraph_api.models import RunCommand, RunCreate
from graphs.server.limits import Admission, ConcurrencyLimiter, InFlightRuns, Ticket
from graphs.server.quotas import Quotas
from stores.errors import SophiaError

if TYPE_CHECKING:
    from graphs.engine.engine import Engine

logger = logging.getLogger(__name__)

QUEUE_BOUND = 256
_END = object()
SYSTEM = Caller(tenant=None, subject="system")
"""Who resumes the runs a shutdown left: counted by admission, under no quota."""


class _Suspended(Exception):
    """The service is shutting down: the run stops here, to resume on the next start."""


class RunManager:
    """Starts, tracks, streams, joins, cancels, suspends and resumes runs on one Engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        admission: Admission | None = None,
        timeout_s: float = 30.0,
        max_runs: int = 1000,
    ) -> None:
        self.engine = engine
        self.admission = admission or Admission(
            ConcurrencyLimiter(64, 256), Quotas(), InFlightRuns()
        )
        self.timeout_s = timeout_s
        self.max_runs = max_runs
        self.runs: OrderedDict[str, RunExecution] = OrderedDict()
        self.active: dict[str, RunExecution] = {}
        self.locks = ThreadLocks()
        self.draining = False
        self.started_at = time.time()
        """Runs left pending or running before this are a dead process's (`recover`)."""
        self._schemas: dict[str, StateSchema] = {}

    # -- starting -------------------------------------------------------------------
    async def start(
        self,
        caller: Caller,
        graph_id: str,
        assistant_id: str,
        thread_id: str | None,
        body: RunCreate,
        *,
        subscribe: bool = False,
        config: dict[str, Any] | None = None,
    ) -> tuple[RunExecution, asyncio.Queue[Any] | None]:
        """Check and start a run of `caller`; with `subscribe` also a queue of its chunks.
        `config` (tags, recursion_limit, configurable) goes to the run's LangGraph config.

        Raises (before the run exists) UnknownThreadError (404: absent, or another
        tenant's), InvalidInputError (422), ThreadBusyError (409), QuotaExceededError
        (429), OverloadedError or ApiError 503 (the queue is full, or shutting down).
        """
        if self.draining:
            raise ApiError(503, "the server is shutting down; retry on another instance")
        engine = self.engine
        config = with_assistant(config, assistant_id)
        strategy = body.multitask_strategy or "reject"
        modes = stream_modes(body.stream_mode)
        run_input: RunInput | None = None
        command: Command[Any] | None = None
        if body.input is not None and body.command is not None:
            raise InvalidInputError(graph_id, ["give input or command, not both"])
        if thread_id is None:
            if body.command is not None:
                raise InvalidInputError(graph_id, ["command: resuming needs a thread"])
            run_input = engine.validate(graph_id, body.input)  # 422 before the run exists
        else:
            await self._own_thread(caller, thread_id, body.if_not_exists == "create")
            if body.input is not None:
                run_input = engine.validate(graph_id, body.input, threaded=True)
            if body.command is not None:
                command = await self._command(caller, graph_id, thread_id, body.command)
        busy = self.active.get(thread_id) if thread_id is not None else None
        if busy is not None and strategy == "reject":
            raise ThreadBusyError(busy.record.thread_id or "", busy.record.run_id)
        ticket = self.admission.reserve(caller)  # before anything changes: 429/503 here
        try:
            if busy is not None and strategy in ("interrupt", "rollback"):
                await self.cancel(busy)
            record = RunRecord(
                run_id=str(uuid.uuid4()),
                graph=graph_id,
                thread_id=thread_id,
                assistant_id=assistant_id,
                metadata=dict(body.metadata or {}),
                multitask_strategy=strategy,
                kwargs={
                    "input": run_input.state if run_input is not None else None,
                    "command": _command_json(command),
                    "stream_mode": list(modes),
                    "config": config,
                },
            )
            run = RunExecution(record, owner=caller.tenant)
            await self._save(run)
            if thread_id is not None:
                await engine.durable.threads.run_started(thread_id, graph_id=graph_id,
                                                         assistant_id=assistant_id, config=config)
        except BaseException:
            ticket.leave()
            raise
        queue: asyncio.Queue[Any] | None = None
        if subscribe:
            queue = asyncio.Queue(maxsize=QUEUE_BOUND)
            run.subscribers.append(queue)
        self._launch(run, run_input, command, modes, ticket, config)
        return run, queue

    async def _own_thread(self, caller: Caller, thread_id: str, create: bool) -> None:
        durable = self.engine.durable
        await durable.ensure_ready()
        if await durable.threads.get(thread_id, owner=caller.tenant) is None:
            if not create:
                raise UnknownThreadError(thread_id)
            await durable.threads.create(thread_id, {}, owner=caller.tenant,
                                         if_exists="do_nothing")  # fmt: skip

    async def _command(
        self, caller: Caller, graph_id: str, thread_id: str, raw: RunCommand
    ) -> Command[Any]:
        schema = self._schemas.get(graph_id)
        if schema is None:
            engine = self.engine
            schema = StateSchema(engine.spec(graph_id), engine.state_schema(graph_id))
            self._schemas[graph_id] = schema
        pending = []
        if raw.resume is not None:
            pending = list((await self.engine.get_state(graph_id, thread_id)).interrupts)
        return check_command(schema, resume=raw.resume, update=raw.update, goto=raw.goto,
                             pending=pending, subject=caller.subject)  # fmt: skip

    def _launch(
        self,
        run: RunExecution,
        run_input: RunInput | None,
        command: Command[Any] | None,
        modes: tuple[StreamMode, ...],
        ticket: Ticket,
        config: dict[str, Any] | None = None,
    ) -> None:
        self._remember(run)
        if run.record.thread_id is not None:
            self.active.setdefault(run.record.thread_id, run)
        run.task = asyncio.create_task(
            self._execute(run, run_input, command, modes, ticket, config),
            name=f"run-{run.record.run_id}",
        )

    # -- executing ------------------------------------------------------------------
    async def _execute(
        self,
        run: RunExecution,
        run_input: RunInput | None,
        command: Command[Any] | None,
        modes: tuple[StreamMode, ...],
        ticket: Ticket,
        config: dict[str, Any] | None = None,
    ) -> None:
        record = run.record
        thread_id = record.thread_id
        started = time.perf_counter()
        deadline: asyncio.Timeout | None = None
        try:
            async with self.locks.hold(thread_id):
                if thread_id is not None:
                    self.active[thread_id] = run
                async with asyncio.timeout(self.timeout_s) as deadline:
                    await ticket.enter()
                    if self.draining:
                        raise _Suspended()
                    record.status = "running"
                    record.updated_at = time.time()
                    await self._save(run)
                    wanted: tuple[StreamMode, ...] = tuple(dict.fromkeys(("values", *modes)))
                    async for mode, chunk in self.engine.stream_modes(
                        record.graph,
                        run_input,
                        thread_id=thread_id,
                        command=command,
                        modes=wanted,
                        run_id=uuid.UUID(record.run_id).hex,
                        config=config,
                    ):
                        run.absorb(mode, chunk)
                        if mode in modes:
                            await self._publish(run, (mode, chunk))
            record.finish(run.final_status(), duration_ms=_ms_since(started))
        except _Suspended:
            self._suspend(run)
        except asyncio.CancelledError as exc:
            if self.draining and thread_id is not None:
                self._suspend(run)
            else:
                record.finish("cancelled", duration_ms=_ms_since(started), error=exc)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline is not None and deadline.expired():
                message = f"the run did not finish within {self.timeout_s:g}s"
                record.finish("timeout", duration_ms=_ms_since(started), error=message)
                run.error = {"error": "timeout", "message": message}
            else:
                record.finish("failed", duration_ms=_ms_since(started), error=exc)
                run.error = _public_error(exc, record.run_id)
            if not isinstance(exc, InvalidInputError):
                logger.warning("run %s failed: %s", record.run_id, record.error)
            await self._publish(run, ("error", run.error))
        finally:
            ticket.leave()
            if thread_id is not None and self.active.get(thread_id) is run:
                del self.active[thread_id]
            for queue in run.subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_END)
            try:
                await self._save(run)
                if thread_id is not None and record.finished:
                    failed = record.error if record.status == "failed" else None
                    await self.engine.threads.settle(record.graph, thread_id, error=failed)
            finally:
                run.done.set()

    def _suspend(self, run: RunExecution) -> None:
        record = run.record
        if record.thread_id is None:
            record.finish("cancelled", error="the server shut down")
        else:
            record.status = "pending"
            record.updated_at = time.time()
            record.kwargs = {**record.kwargs, RESUME_FLAG: True}
        run.error = {"error": "shutdown", "message": "the server shut down before the run "
                     "finished; it resumes when the server starts again"}  # fmt: skip

    async def _save(self, run: RunExecution) -> None:
        try:
            await self.engine.durable.runs.put(run.record, owner=run.owner)
        except SophiaError as exc:  # a thread-less run works without the store
            logger.warning("run %s: its record was not stored: %s", run.record.run_id, exc)

    async def _publish(self, run: RunExecution, item: tuple[str, Any]) -> None:
        for queue in list(run.subscribers):
            # Back-pressure: a slow stream reader slows its run, memory stays bounded.
            await queue.put(item)

    async def events(self, queue: asyncio.Queue[Any]) -> AsyncIterator[tuple[str, Any]]:
        """The chunks of a subscribed run until it ends."""
        while True:
            item = await queue.get()
            if item is _END:
                return
            yield item

    # -- finding, stopping ------------------------------------------------------------
    def get(
        self, thread_id: str | None, run_id: str, owner: str | None = None
    ) -> RunExecution | None:
        """The run `run_id` on `thread_id` that this process executes for `owner`, or None."""
        run = self.runs.get(run_id)
        if run is None or run.record.thread_id != thread_id:
            return None
        if owner is not None and run.owner != owner:
            return None
        return run

    def stop(self, run: RunExecution) -> None:
        """Ask `run` to stop (cancel its task) without waiting for it."""
        if run.task is not None and not run.task.done():
            run.task.cancel()

    async def cancel(self, run: RunExecution, *, wait: bool = True) -> None:
        """Cancel `run` (its completed supersteps stay checkpointed)."""
        self.stop(run)
        if wait and run.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await run.task

    def _remember(self, run: RunExecution) -> None:
        self.runs[run.record.run_id] = run
        while len(self.runs) > self.max_runs:
            oldest_id, oldest = next(iter(self.runs.items()))
            if not oldest.done.is_set():
                break
            del self.runs[oldest_id]

    # -- shutdown and restart -----------------------------------------------------------
    async def drain(self, grace_s: float) -> None:
        """Start no more runs; let running ones finish within `grace_s`; cancel the rest,
        marking those on a thread to resume on the next start."""
        self.draining = True
        tasks = [r.task for r in self.runs.values() if r.task is not None and not r.task.done()]
        if not tasks:
            return
        _, left = await asyncio.wait(tasks, timeout=grace_s)
        if left:
            logger.warning("%d runs still running after %gs: suspended, they resume on the "
                           "next start", len(left), grace_s)  # fmt: skip
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=30)

    async def aclose(self) -> None:
        """Suspend every unfinished run at once (`drain` without grace)."""
        await self.drain(0)

    async def recover(self) -> int:
        """Resume the runs the last shutdown left, and close those a dead process left
        (`graphs.server.langgraph_api.recovery`); how many runs this process resumed."""
        from graphs.server.langgraph_api.recovery import recover

        return await recover(self)

    def launch_resumed(
        self,
        run: RunExecution,
        run_input: RunInput | None,
        command: Command[Any] | None,
    ) -> None:
        """Execute a run taken over from an earlier process (admitted under no quota)."""
        ticket = self.admission.reserve(SYSTEM, force=True)
        modes = stream_modes(run.record.kwargs.get("stream_mode"))
        self._launch(run, run_input, command, modes, ticket, run.record.kwargs.get("config"))


def _public_error(exc: Exception, run_id: str) -> dict[str, str]:
    """What a caller is told of a failed run: the engine's input errors and LangGraph's own
    (a recursion limit, an invalid update) as they are; anything else by kind only (its
    text may name files or hosts: the log has it)."""
    if isinstance(exc, GraphError) or type(exc).__module__ == "langgraph.errors":
        return {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, CheckpointStoreError):
        return {"error": "CheckpointStoreError", "message": "the checkpoint store is unavailable"}
    return {"error": "internal", "message": f"run {run_id} failed; the server log has details"}


def _command_json(command: Command[Any] | None) -> dict[str, Any] | None:
    if command is None:
        return None
    goto = list(command.goto) if isinstance(command.goto, list | tuple) else command.goto
    return {"resume": command.resume, "update": command.update, "goto": goto or None}


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
