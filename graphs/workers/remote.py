"""The API server's side of runs that workers execute (``SOPHIA_RUN_QUEUE=postgres``).

`RunManager` checks and records a run exactly as in-process; then, instead of executing
it, `RemoteRuns.launch` queues it (`graphs.workers.queue`) and follows its events from
Redis (`graphs.workers.events`) into the run's local `EventLog`, so ``wait``, ``join``,
streams and ``Last-Event-ID`` work as they do in-process. A run another API server
accepted is followed the same way when a client asks for it here (`attach`). Cancelling
aborts its job: a queued run is cancelled here (its record, its thread, its stream's end);
a running one is cancelled by the worker that holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from graphs.engine.run_record import RunRecord, RunStatus
from graphs.server.langgraph_api.execution import RunExecution
from graphs.server.langgraph_api.run_plan import RunPlan
from graphs.workers.event_hub import EventHub
from graphs.workers.events import END, IDLE, RunEvents, redis_client
from graphs.workers.queue import RunQueue, open_run_queue
from stores.settings import Settings

if TYPE_CHECKING:
    from graphs.server.langgraph_api.runs import RunManager
    from graphs.server.limits import Ticket

logger = logging.getLogger(__name__)

OUTCOME_GRACE_S = 10.0
"""How long after a run's record says it ended its stream may still lack the outcome."""
UNFINISHED: tuple[RunStatus, ...] = ("pending", "running")


class RemoteRuns:
    """Queueing, following and cancelling runs executed by workers (module docstring)."""

    def __init__(self, queue: RunQueue, events: RunEvents) -> None:
        self.queue = queue
        self.events = events
        self.hub = EventHub(events.redis)
        self.followers: set[asyncio.Task[None]] = set()
        self.sampler: Any = None
        """The queue's gauges (`graphs.workers.queue_metrics.QueueSampler`), when sampled."""

    async def launch(self, manager: RunManager, run: RunExecution, ticket: Ticket) -> None:
        """Queue `run` (its record is written) and follow it; `ticket` is given back when
        it ends."""
        thread = None if run.plan.temporary else run.record.thread_id
        await self.queue.defer(
            run.record.run_id, thread_id=thread, after_seconds=run.plan.after_seconds
        )
        self._follow(manager, run, ticket)

    async def attach(
        self, manager: RunManager, record: RunRecord, owner: str | None
    ) -> RunExecution | None:
        """Follow a run another API server accepted (known here from now on); None for a
        finished run whose events have expired."""
        known = manager.runs.get(record.run_id)
        if known is not None:
            return known
        if record.finished and not await self.events.exists(record.run_id):
            return None
        run = RunExecution(record, owner=owner, plan=RunPlan.from_kwargs(record.kwargs),
                           remote=True)  # fmt: skip
        manager.remember(run)
        self._follow(manager, run, None)
        return run

    async def busy(
        self, manager: RunManager, thread_id: str, owner: str | None
    ) -> RunExecution | None:
        """The run `thread_id` is busy with (running, else the oldest queued), on any
        server or worker; None when it is idle."""
        durable = manager.engine.durable
        waiting = await durable.runs.list(thread_id=thread_id, status=UNFINISHED,
                                          owner=owner, limit=100)  # fmt: skip
        if not waiting:
            return None
        running = [r for r in waiting if r.status == "running"]
        record = running[0] if running else waiting[-1]
        return await self.attach(manager, record, owner)

    async def cancel(self, manager: RunManager, run: RunExecution, *, wait: bool) -> None:
        """Abort `run`'s job; with `wait`, return once it has ended."""
        outcome = await self.queue.abort(run.record.run_id)
        if outcome == "cancelled":  # it never started: nobody else will end it
            record = run.record
            record.finish("cancelled", error="cancelled before it started")
            durable = manager.engine.durable
            await durable.runs.put(record, owner=run.owner)
            if not run.plan.temporary and record.thread_id is not None:
                await manager.engine.threads.settle(record.graph, record.thread_id)
            await self.events.end(record.run_id, {"status": "cancelled", "error": record.error})
        if wait:
            await run.done.wait()

    def _follow(self, manager: RunManager, run: RunExecution, ticket: Ticket | None) -> None:
        task = asyncio.create_task(self._relay(manager, run, ticket),
                                   name=f"follow-{run.record.run_id}")  # fmt: skip
        self.followers.add(task)
        task.add_done_callback(self.followers.discard)

    async def _relay(self, manager: RunManager, run: RunExecution, ticket: Ticket | None) -> None:
        outcome: dict[str, Any] | None = None
        run_id = run.record.run_id
        inbox = self.hub.subscribe(run_id)
        checked = time.monotonic()
        try:
            while outcome is None:
                _entry, event, data = await inbox.get()
                if event == END:
                    outcome = data
                elif event != IDLE:
                    await run.log.publish(event, data)
                elif time.monotonic() - checked > OUTCOME_GRACE_S:  # one read per grace
                    checked = time.monotonic()
                    if await self._ended_without_outcome(manager, run):
                        return
        finally:
            self.hub.unsubscribe(run_id)
            if ticket is not None:
                ticket.leave()
            with contextlib.suppress(Exception):
                await self._ended(manager, run, outcome or {})
            await run.log.close()
            run.done.set()
            manager.keep_log(run)

    async def _ended_without_outcome(self, manager: RunManager, run: RunExecution) -> bool:
        """Whether the run's record says it ended though its stream has no outcome (its
        worker died between the two, or Redis lost it): the record is the truth."""
        found = await manager.engine.durable.runs.get(run.record.run_id)
        if found is None:
            return True  # deleted
        # A worker writes the record, then the outcome: give it time before giving up.
        return found.finished and time.time() - (found.finished_at or 0.0) > OUTCOME_GRACE_S

    async def _ended(self, manager: RunManager, run: RunExecution, outcome: dict[str, Any]) -> None:
        run.values = outcome.get("values")
        run.interrupts = list(outcome.get("interrupts") or [])
        run.paused = bool(outcome.get("paused"))
        run.error = outcome.get("failure")
        found = await manager.engine.durable.runs.get(run.record.run_id)
        if found is not None:
            run.record = found
        if outcome:
            return
        if run.record.status in ("failed", "timeout"):
            message = run.record.error or f"the run ended {run.record.status}"
            run.error = {"error": run.record.status, "message": message}
        elif not run.plan.temporary and run.record.thread_id is not None:
            thread = await manager.engine.durable.threads.get(run.record.thread_id)
            run.values = dict(thread.values or {}) if thread is not None else None

    async def aclose(self) -> None:
        """Stop following (the runs go on on their workers)."""
        for task in list(self.followers):
            task.cancel()
        if self.followers:
            await asyncio.wait(set(self.followers), timeout=10)
        await self.hub.aclose()


@contextlib.asynccontextmanager
async def remote_runs(settings: Settings, runs: Any) -> AsyncIterator[RemoteRuns | None]:
    """`RemoteRuns` on the queue and Redis of `settings` for the block, with the queue's
    gauges read from `runs` (a `RunStore`); None when runs execute in-process
    (``SOPHIA_RUN_QUEUE=none``)."""
    if settings.run_queue != "postgres":
        yield None
        return
    from graphs.workers.queue_metrics import queue_gauges

    client = redis_client(settings.redis_url or "")
    try:
        async with open_run_queue(settings) as queue, queue_gauges(runs) as sampler:
            remote = RemoteRuns(queue, RunEvents(client))
            remote.sampler = sampler
            try:
                yield remote
            finally:
                await remote.aclose()
    finally:
        await client.aclose()
