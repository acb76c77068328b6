"""`sophia worker`: one Engine executing runs from the durable queue.

    async with RunWorker.open(settings, concurrency=8) as worker:
        await worker.run()          # until SIGTERM / SIGINT; then drains

Each job (`graphs.workers.queue`) names a run whose record an API server wrote. The worker
executes it with the same `RunManager` that runs it in-process under `sophia serve`
(admission, thread lock, timeout, checkpoints, record and thread bookkeeping, webhook),
and forwards its events to the run's Redis stream (`graphs.workers.events`), ending with
its outcome, which every API server follows.

A run taken over from a worker that died (its record still says ``running``) resumes from
its thread's last checkpoint when that checkpoint is its own, so completed supersteps do
not run again (a run without a thread has no checkpoint: it starts over). Each start is
counted in the record (``kwargs.attempts``, with ``kwargs.worker``: the worker holding
it); past ``SOPHIA_RUN_MAX_ATTEMPTS`` the run is
dead-lettered: ``failed`` with the reason, not started again.

An abort (``POST .../cancel`` on any API server) reaches the worker through procrastinate
(LISTEN/NOTIFY): the run is cancelled, its supersteps stay checkpointed. On SIGTERM the
worker takes no new job, lets running ones finish within the grace period, and suspends
the rest: each is queued again and resumes on another worker from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from graphs.server.langgraph_api.execution import RunExecution
from graphs.server.langgraph_api.recovery import resumption
from graphs.server.langgraph_api.runs import RunManager
from graphs.server.limits import Admission, ConcurrencyLimiter, InFlightRuns
from graphs.server.quotas import Quotas
from graphs.workers.events import RunEvents, redis_client
from graphs.workers.queue import (
    EXECUTE_RUN,
    QUEUE,
    RETRY_STALLED,
    STALLED_CHECK_CRON,
    RunQueue,
    install_schema,
    make_app,
)
from stores.settings import Settings

if TYPE_CHECKING:
    import procrastinate

    from graphs.engine.engine import Engine

logger = logging.getLogger(__name__)

QUEUE_POOL_EXTRA = 3
"""A worker's queue connections beyond one per running job: the job fetcher's LISTEN,
the heartbeat, the periodic deferrer."""
RESUMED_PRIORITY = 10
"""A dead worker's runs go back on the queue ahead of runs not started yet (priority 0)."""
DEAD_LETTER = (
    "the run was started {n} times and its worker stopped each time; it is not started "
    "again (SOPHIA_RUN_MAX_ATTEMPTS)"
)


def sized_for(settings: Settings, slots: int) -> Settings:
    """`settings` with a warehouse pool of at least one connection per run slot, unless
    ``SOPHIA_POOL_MAX_SIZE`` was set (then it is the operator's)."""
    if "pool_max_size" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"pool_max_size": max(settings.pool_max_size, slots)})


def worker_name() -> str:
    """This worker's name in the queue's worker table: ``sophia-worker-<host>-<pid>``."""
    return f"sophia-worker-{socket.gethostname()}-{os.getpid()}"


def outcome_of(run: RunExecution) -> dict[str, Any]:
    """What the run's stream ends with: its status and what `wait` answers."""
    record = run.record
    return {"status": record.status, "error": record.error, "values": run.values,
            "interrupts": run.interrupts, "paused": run.paused, "failure": run.error}  # fmt: skip


class RunWorker:
    """Executes queued runs on `engine` (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        app: procrastinate.App,
        redis: Any,
        *,
        concurrency: int,
        run_timeout_s: float = 30.0,
        webhook_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.engine = engine
        self.app = app
        self.queue = RunQueue(app)
        self.events = RunEvents(redis)
        self.concurrency = concurrency
        self.name = worker_name()
        self.settings = engine.settings
        admission = Admission(
            ConcurrencyLimiter(concurrency, concurrency * 4), Quotas(), InFlightRuns()
        )
        self.runs = RunManager(
            engine, admission=admission, timeout_s=run_timeout_s, webhook_hosts=webhook_hosts
        )
        self._register()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        concurrency: int | None = None,
        run_timeout_s: float = 30.0,
        webhook_hosts: frozenset[str] = frozenset(),
    ) -> AsyncIterator[RunWorker]:
        """An engine, the queue and the Redis client for `settings`, open for the block."""
        from graphs.engine.engine import Engine

        if settings.run_queue != "postgres" or not settings.postgres_url:
            from stores.errors import ConfigurationError

            raise ConfigurationError(
                "sophia worker executes queued runs: set SOPHIA_RUN_QUEUE=postgres, "
                "SOPHIA_POSTGRES_URL and SOPHIA_REDIS_URL (as for the API servers)"
            )
        url, slots = settings.postgres_url, concurrency or settings.worker_concurrency
        settings = sized_for(settings, slots)
        app = make_app(url, pool_max=slots + QUEUE_POOL_EXTRA)
        client = redis_client(settings.redis_url or "")
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(client.aclose)
            engine = await stack.enter_async_context(
                Engine(settings, auto_seed=True, configure_telemetry=True,
                       freeze_gc=settings.gc_freeze)
            )
            await stack.enter_async_context(app.open_async())
            await install_schema(app, url)
            await engine.durable.ensure_ready()
            yield cls(engine, app, client, concurrency=slots, run_timeout_s=run_timeout_s,
                      webhook_hosts=webhook_hosts)  # fmt: skip

    def _register(self) -> None:
        app = self.app
        app.task(name=EXECUTE_RUN, queue=QUEUE, pass_context=True)(self._job)
        # Ahead of every queued run: the check must not wait behind the queue it repairs.
        stalled = app.task(name=RETRY_STALLED, queue=QUEUE, queueing_lock=RETRY_STALLED,
                           priority=RESUMED_PRIORITY + 1)(self._retry_stalled)  # fmt: skip
        app.periodic(cron=STALLED_CHECK_CRON, periodic_id="stalled")(stalled)

    async def run(self, *, grace_s: float = 30.0) -> None:
        """Take and execute jobs until SIGTERM/SIGINT (or cancellation); then let running
        runs finish within `grace_s` and suspend the rest (queued again)."""
        stalled = self.settings.worker_stalled_s
        await self.app.run_worker_async(
            queues=[QUEUE],
            concurrency=self.concurrency,
            name=self.name,
            shutdown_graceful_timeout=grace_s,
            update_heartbeat_interval=max(1.0, stalled / 3),
            stalled_worker_timeout=stalled,
            delete_jobs="successful",
        )

    async def _retry_stalled(self, timestamp: int) -> None:
        """Put the jobs of workers whose heartbeat stopped back on the queue."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            queue=QUEUE, task_name=EXECUTE_RUN,
            seconds_since_heartbeat=self.settings.worker_stalled_s,
        )  # fmt: skip
        for job in stalled:
            logger.warning("run job %s: its worker stopped; queued again", job.id)
            with contextlib.suppress(Exception):  # another worker retried it first
                await manager.retry_job(job, priority=RESUMED_PRIORITY)

    async def _job(self, context: Any, run_id: str) -> None:
        """Execute run `run_id` (the job of `EXECUTE_RUN`)."""
        from procrastinate.job_context import AbortReason

        await self.execute(run_id, shutdown=lambda: context.abort_reason() == AbortReason.SHUTDOWN)

    async def execute(self, run_id: str, shutdown: Callable[[], bool] = lambda: False) -> None:
        """Execute `run_id` as its record says, or dead-letter it (module docstring).
        Cancelled, it cancels the run, or suspends it when `shutdown()` says the worker is
        stopping."""
        durable = self.engine.durable
        found = await durable.runs.get_owned(run_id)
        if found is None:
            logger.warning("run %s: no record (deleted before it started); skipped", run_id)
            return
        record, owner = found
        if record.finished:
            return  # cancelled while queued: the API server published its end
        attempts = int(record.kwargs.get("attempts") or 0) + 1
        record.kwargs = {**record.kwargs, "attempts": attempts, "after_seconds": 0,
                         "worker": self.name}  # fmt: skip
        run = RunExecution(record, owner=owner)
        if attempts > self.settings.run_max_attempts:
            record.finish("failed", error=DEAD_LETTER.format(n=attempts - 1))
            run.error = {"error": "dead_letter", "message": record.error or ""}
            await durable.runs.put(record, owner=owner)
            if not record.kwargs.get("temporary") and record.thread_id is not None:
                await self.engine.threads.settle(record.graph, record.thread_id)
            logger.error("run %s dead-lettered after %d attempts", run_id, attempts - 1)
            await self.events.end(run_id, outcome_of(run))
            return
        await durable.runs.put(record, owner=owner)
        if record.kwargs.get("temporary") or record.thread_id is None:
            run_input, command = resumption_of_temporary(record)
        else:
            run_input, command = await resumption(self.runs, record)
        reader = run.log.reader()
        forwarding = asyncio.create_task(self._forward(run_id, reader))
        try:
            await self.runs.launch_resumed(run, run_input, command)
            await asyncio.shield(run.done.wait())
        except asyncio.CancelledError:
            self.runs.draining = self.runs.draining or shutdown()
            await asyncio.shield(self.runs.cancel(run))
            raise
        finally:
            await asyncio.shield(forwarding)
            await asyncio.shield(self._settle_stream(run))

    async def _forward(self, run_id: str, reader: Any) -> None:
        async for _seq, event, data in reader:
            await self.events.publish(run_id, event, data)

    async def _settle_stream(self, run: RunExecution) -> None:
        """End the run's stream, or queue it again when the worker suspended it."""
        record = run.record
        if record.status == "pending":  # suspended by a shutdown: another worker resumes it
            thread = None if record.kwargs.get("temporary") else record.thread_id
            await self.queue.defer(record.run_id, thread_id=thread)
            return
        await self.events.end(record.run_id, outcome_of(run))


def resumption_of_temporary(record: Any) -> tuple[Any, Any]:
    """A run without a thread starts from its input again (nothing was checkpointed)."""
    from graphs.engine.run_input import RunInput

    state = record.kwargs.get("input")
    return (RunInput(record.graph, state) if state is not None else None), None
