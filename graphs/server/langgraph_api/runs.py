"""Runs of the LangGraph SDK API: one asyncio task each, admitted like every other run.

`RunManager.start` checks everything that can be checked up front (the caller's thread,
the input, the command: `graphs.engine.commands`, the thread being busy, the caller's
quotas and the server's queue bound: `graphs.server.limits.Admission`) and raises
before anything runs; the run then executes in its own task: it waits for the thread
(one run per thread at a time), then for a run slot, and must finish within the
server's request timeout (status ``timeout`` otherwise), publishing its events
(`.stream_events`) to its `.event_log.EventLog`, which its streams follow, and keeping
the last values for `wait`/`join`. How it runs is its `.run_plan.RunPlan`. A busy thread
rejects a second run (`ThreadBusyError`, 409), queues it (``'enqueue'``), cancels the
first (``'interrupt'``), or cancels and deletes it with its checkpoints (``'rollback'``,
`.run_control.roll_back`). A run without a thread gets a thread id that only names it
(``kwargs.temporary``); with ``on_completion='keep'`` it runs on a new thread of the
caller's. A run's webhook is sent when it ends. With `remote` (``SOPHIA_RUN_QUEUE``) the
run is queued for a worker instead and followed (`graphs.workers.remote`).

Each run is the engine's `RunRecord`, written to the run table (`graphs.durable.runs`)
when accepted (``pending``), when it starts (``running``) and when it ends, with its
owner (the caller's tenant), so any process on the same database can answer for it; a
run on a thread that ends settles the thread's row (`Threads.settle`).

On shutdown (`drain`) running runs get the grace period; the rest are cancelled (their
supersteps stay checkpointed) and, on a thread, marked ``pending`` with
``resume_on_start`` for the next start (`recover`) to continue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from langgraph.types import Command

from graphs.durable.errors import ThreadBusyError
from graphs.durable.runs import RESUME_FLAG
from graphs.engine.commands import StateSchema
from graphs.engine.errors import InvalidInputError
from graphs.engine.run_input import RunInput
from graphs.engine.run_record import RunRecord
from graphs.server.caller import Caller
from graphs.server.langgraph_api import run_control
from graphs.server.langgraph_api.assistants import with_assistant
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.event_log import LogReader
from graphs.server.langgraph_api.execution import RunExecution, ThreadLocks
from graphs.server.langgraph_api.run_models import RunCreate
from graphs.server.langgraph_api.run_plan import RunPlan
from graphs.server.langgraph_api.stream_events import EventMapper
from graphs.server.limits import Admission, ConcurrencyLimiter, InFlightRuns, Ticket
from graphs.server.quotas import Quotas
from stores.errors import SophiaError

if TYPE_CHECKING:
    from graphs.engine.engine import Engine
    from graphs.workers.remote import RemoteRuns

logger = logging.getLogger(__name__)

LOGS_KEPT = 64
"""Finished runs whose event log stays for streams that join them later."""
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
        webhook_hosts: frozenset[str] = frozenset(),
        remote: RemoteRuns | None = None,
    ) -> None:
        self.engine = engine
        self.remote = remote
        self.admission = admission or Admission(
            ConcurrencyLimiter(64, 256), Quotas(), InFlightRuns()
        )
        self.timeout_s = timeout_s
        self.max_runs = max_runs
        self.webhook_hosts = webhook_hosts  # a run's webhook may call (none: webhooks off)
        self.runs: OrderedDict[str, RunExecution] = OrderedDict()
        self._logged: deque[RunExecution] = deque()
        self.active: dict[str, RunExecution] = {}
        self.locks = ThreadLocks()
        self.draining = False
        self.started_at = time.time()
        """Runs left pending or running before this are a dead process's (`recover`)."""
        self.webhooks: set[asyncio.Task[None]] = set()
        self.schemas: dict[str, StateSchema] = {}
        """Each graph's state schema, as commands are checked against it."""

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
    ) -> tuple[RunExecution, LogReader | None]:
        """Check and start a run of `caller`; with `subscribe` also a reader of its events
        from the first. `config` (the assistant's under the run's own: tags,
        recursion_limit, configurable) goes to the run's LangGraph config.

        Raises (before the run exists) UnknownThreadError (404: absent, or another
        tenant's), ApiError 404 (an unknown checkpoint), InvalidInputError or ApiError 422
        (input, command or an option it cannot honour: `.run_plan`), ThreadBusyError
        (409), QuotaExceededError (429), OverloadedError or ApiError 503 (the queue is
        full, or shutting down).
        """
        if self.draining:
            raise ApiError(503, "the server is shutting down; retry on another instance")
        engine = self.engine
        config = with_assistant(config, assistant_id)
        strategy = body.multitask_strategy or "reject"
        checked = await run_control.checked_request(self, caller, graph_id, thread_id, body,
                                                    config or {})  # fmt: skip
        plan, run_input, command = checked.plan, checked.run_input, checked.command
        label, keep = checked.label, checked.keep
        busy = self.active.get(thread_id) if thread_id is not None else None
        if self.remote is not None and thread_id is not None:
            busy = await self.remote.busy(self, thread_id, caller.tenant)
        if busy is not None and strategy == "reject":
            raise ThreadBusyError(busy.record.thread_id or "", busy.record.run_id)
        ticket = self.admission.reserve(caller)  # before anything changes: 429/503 here
        try:
            if keep:
                await engine.durable.ensure_ready()
                made = await engine.durable.threads.create(None, {}, owner=caller.tenant)
                thread_id = made.thread_id
            if busy is not None and strategy == "interrupt":
                await self.cancel(busy)
            elif busy is not None and strategy == "rollback":
                await run_control.roll_back(self, busy)
            record = RunRecord(
                run_id=str(uuid.uuid4()),
                graph=graph_id,
                thread_id=thread_id or label,
                assistant_id=assistant_id,
                metadata=dict(body.metadata or {}),
                multitask_strategy=strategy,
                kwargs=plan.kwargs(
                    run_input.state if run_input is not None else None,
                    run_control.command_json(command),
                ),
            )
            run = RunExecution(record, owner=caller.tenant, plan=plan)
            await self._save(run)
            if thread_id is not None:
                await engine.durable.threads.run_started(thread_id, graph_id=graph_id,
                                                         assistant_id=assistant_id, config=config)
        except BaseException:
            ticket.leave()
            raise
        reader = run.log.reader() if subscribe else None
        await self._launch(run, run_input, command, ticket)
        return run, reader

    async def _launch(
        self,
        run: RunExecution,
        run_input: RunInput | None,
        command: Command[Any] | None,
        ticket: Ticket,
    ) -> None:
        if self.remote is not None:
            run.remote = True
            self.remember(run)
            return await self.remote.launch(self, run, ticket)
        attempt = int(run.record.kwargs.get("attempts") or 1)  # a worker's n-th start
        await run.log.publish("metadata", {"run_id": run.record.run_id, "attempt": attempt})
        self.remember(run)
        if run.thread_id is not None:
            self.active.setdefault(run.thread_id, run)
        run.task = asyncio.create_task(
            self._execute(run, run_input, command, ticket), name=f"run-{run.record.run_id}"
        )

    # -- executing ------------------------------------------------------------------
    async def _execute(
        self,
        run: RunExecution,
        run_input: RunInput | None,
        command: Command[Any] | None,
        ticket: Ticket,
    ) -> None:
        record, plan = run.record, run.plan
        thread_id = run.thread_id
        started = time.perf_counter()
        deadline: asyncio.Timeout | None = None
        try:
            if plan.after_seconds:
                await asyncio.sleep(plan.after_seconds)
            async with self.locks.hold(thread_id):
                if thread_id is not None:
                    self.active[thread_id] = run
                async with asyncio.timeout(self.timeout_s) as deadline:
                    await ticket.enter()
                    if self.draining:
                        raise _Suspended()
                    record.status = "running"
                    record.updated_at = run.started_at = time.time()
                    await self._save(run)
                    await self._stream(run, run_input, command)
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
                run.error = run_control.public_error(exc, record.run_id)
            if not isinstance(exc, InvalidInputError):
                logger.warning("run %s failed: %s", record.run_id, record.error)
            with contextlib.suppress(Exception):
                await run.log.publish("error", run.error)
        finally:
            ticket.leave()
            if thread_id is not None and self.active.get(thread_id) is run:
                del self.active[thread_id]
            try:
                await self._save(run)
                if thread_id is not None and record.finished:
                    failed = record.error if record.status == "failed" else None
                    await self.engine.threads.settle(record.graph, thread_id, error=failed,
                                                     paused=run.paused)  # fmt: skip
            finally:
                await run.log.close()
                run.done.set()
                self.keep_log(run)
                if plan.webhook and record.finished:
                    self._webhook(run)

    async def _stream(
        self, run: RunExecution, run_input: RunInput | None, command: Command[Any] | None
    ) -> None:
        """Run the graph, keeping what `wait` answers and publishing the run's events."""
        record, plan = run.record, run.plan
        mapper = EventMapper(plan.modes, plan.subgraphs)
        async for ns, mode, chunk in self.engine.stream_parts(
            record.graph,
            run_input,
            thread_id=run.thread_id,
            command=command,
            modes=tuple(dict.fromkeys(("values", "updates", *plan.langgraph_modes))),
            run_id=uuid.UUID(record.run_id).hex,
            config=plan.config,
            options=plan.options,
        ):
            if not ns:
                run.absorb(mode, chunk)
            for event, data in mapper.events(ns, mode, chunk):
                await run.log.publish(event, data)

    def _webhook(self, run: RunExecution) -> None:
        self._side_task(run_control.send_webhook(run))

    def _side_task(self, work: Any) -> None:  # a side task the shutdown waits for
        task = asyncio.create_task(work, name="run-side-task")
        self.webhooks.add(task)
        task.add_done_callback(self.webhooks.discard)

    def _suspend(self, run: RunExecution) -> None:
        record = run.record
        if run.thread_id is None:
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
        if run.remote and self.remote is not None and not run.done.is_set():
            self._side_task(self.remote.cancel(self, run, wait=False))
        elif run.task is not None and not run.task.done():
            run.task.cancel()

    async def cancel(self, run: RunExecution, *, wait: bool = True) -> None:
        """Cancel `run` (its completed supersteps stay checkpointed)."""
        if run.remote and self.remote is not None:
            return await self.remote.cancel(self, run, wait=wait)
        self.stop(run)
        if wait and run.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await run.task

    def forget(self, run: RunExecution) -> None:
        """Stop tracking `run` (its record was deleted)."""
        self.runs.pop(run.record.run_id, None)

    def remember(self, run: RunExecution) -> None:
        self.runs[run.record.run_id] = run
        while len(self.runs) > self.max_runs and (oldest := next(iter(self.runs.values()))):
            if not oldest.done.is_set():
                break
            del self.runs[oldest.record.run_id]

    def keep_log(self, run: RunExecution) -> None:  # the last LOGS_KEPT finished runs'
        self._logged.append(run)
        while len(self._logged) > LOGS_KEPT:
            self._logged.popleft().log.forget()

    # -- shutdown and restart -----------------------------------------------------------
    async def drain(self, grace_s: float) -> None:
        """Start no more runs; let running ones finish within `grace_s`; cancel the rest,
        marking those on a thread to resume on the next start; webhooks still being sent
        get the same grace."""
        self.draining = True
        tasks = [r.task for r in self.runs.values() if r.task is not None and not r.task.done()]
        if tasks:
            _, left = await asyncio.wait(tasks, timeout=grace_s)
            if left:
                logger.warning("%d runs still running after %gs: suspended, they resume on "
                               "the next start", len(left), grace_s)  # fmt: skip
                for task in left:
                    task.cancel()
                await asyncio.wait(left, timeout=30)
        if self.webhooks:
            _, unsent = await asyncio.wait(set(self.webhooks), timeout=grace_s)
            for task in unsent:
                task.cancel()

    async def aclose(self) -> None:
        """Suspend every unfinished run at once (`drain` without grace)."""
        await self.drain(0)

    async def recover(self) -> int:
        """Resume the runs the last shutdown left, and close those a dead process left
        (`graphs.server.langgraph_api.recovery`); how many runs this process resumed."""
        from graphs.server.langgraph_api.recovery import recover

        return await recover(self)

    async def launch_resumed(
        self, run: RunExecution, run_input: RunInput | None, command: Command[Any] | None
    ) -> None:
        """Execute a run taken over from an earlier process (admitted under no quota), as
        its record's kwargs say it was asked to run."""
        ticket = self.admission.reserve(SYSTEM, force=True)
        run.plan = RunPlan.from_kwargs(run.record.kwargs)
        await self._launch(run, run_input, command, ticket)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
