"""The durable run queue: procrastinate jobs in Postgres, one per run to execute.

    async with open_run_queue(settings) as queue:       # an API server or a worker
        await queue.defer(run_id, thread_id=..., after_seconds=0)
        await queue.abort(run_id)                          # cancel it, queued or running

procrastinate (https://procrastinate.readthedocs.io) keeps the jobs in Postgres tables
beside the run records, wakes idle workers with LISTEN/NOTIFY, runs one job at a time per
``lock`` (a thread's runs never overlap, on any number of workers, in the order they were
queued), carries abort requests to the worker that holds a job (NOTIFY again), and keeps
a heartbeat per worker. A worker whose heartbeat is older than
``SOPHIA_WORKER_STALLED_S`` is dead: the periodic `RETRY_STALLED` task (procrastinate's
documented recipe, deduplicated across workers by its queueing lock) puts its jobs back
on the queue, and the next worker resumes each run from its last checkpoint.

A job names its run only (``run_id``): what to run is the run's record
(`graphs.durable.runs`), written before the job is queued. Its ``queueing_lock`` is
the run id, so at most one job per run waits at a time and `abort` finds it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from stores.settings import Settings

if TYPE_CHECKING:
    import procrastinate

logger = logging.getLogger(__name__)

QUEUE = "sophia_runs"
"""The procrastinate queue of runs."""
EXECUTE_RUN = "sophia.execute_run"
"""The task that executes one run (`graphs.workers.worker`)."""
RETRY_STALLED = "sophia.retry_stalled_runs"
"""The periodic task that puts a dead worker's jobs back on the queue."""
STALLED_CHECK_CRON = "* * * * * */5"
"""How often a worker looks for dead workers' jobs: every 5 s (procrastinate's cron takes
seconds as a sixth field, the last one)."""
API_QUEUE_POOL_MAX = 4
"""Postgres connections an API server's queue opens at most (it only queues and aborts)."""
_SCHEMA_LOCK = 0x50F1A
"""Postgres advisory lock taken while one process installs procrastinate's tables."""


def thread_lock(thread_id: str) -> str:
    """The procrastinate lock of a thread's runs (one at a time, in queue order)."""
    return f"thread:{thread_id}"


def run_lock(run_id: str) -> str:
    """The queueing lock of a run's job (at most one waits; `RunQueue.abort` finds it)."""
    return f"run:{run_id}"


def make_app(url: str, *, pool_max: int) -> procrastinate.App:
    """A procrastinate App on Postgres `url` with a connection pool of at most `pool_max`
    (not opened)."""
    import procrastinate

    connector = procrastinate.PsycopgConnector(
        conninfo=url, min_size=1, max_size=pool_max, kwargs={"connect_timeout": 5}
    )
    return procrastinate.App(connector=connector)


class RunQueue:
    """Queueing and aborting runs on an open procrastinate App (see the module
    docstring)."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    async def defer(
        self, run_id: str, *, thread_id: str | None, after_seconds: float = 0.0
    ) -> int:
        """Queue `run_id` (behind the thread's earlier runs, when it has a thread; not
        before `after_seconds`); the job's id."""
        options: dict[str, Any] = {"queue": QUEUE, "queueing_lock": run_lock(run_id)}
        if thread_id is not None:
            options["lock"] = thread_lock(thread_id)
        if after_seconds > 0:
            options["schedule_in"] = {"seconds": after_seconds}
        deferrer = self.app.configure_task(EXECUTE_RUN, **options)
        job_id: int = await deferrer.defer_async(run_id=run_id)
        return job_id

    async def abort(self, run_id: str) -> str | None:
        """Stop `run_id`'s job: ``"cancelled"`` when it had not started (no worker will
        run it), ``"aborting"`` when a worker holds it (it is cancelled there, its
        record says so when it has stopped), None when it has no unfinished job."""
        manager = self.app.job_manager
        for status, outcome in (("todo", "cancelled"), ("doing", "aborting")):
            jobs = await manager.list_jobs_async(queueing_lock=run_lock(run_id), status=status)
            for job in jobs:
                assert job.id is not None
                if await manager.cancel_job_by_id_async(job.id, abort=status == "doing"):
                    return outcome
        return None


async def install_schema(app: procrastinate.App, url: str) -> None:
    """Create procrastinate's tables in `url`'s database unless they exist (one process
    at a time: an advisory lock)."""
    import psycopg

    from graphs.durable.pg_lock import advisory_lock

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async with advisory_lock(conn, _SCHEMA_LOCK):
            cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cur.fetchone()
            if not (row and row[0]):
                logger.info("installing the run queue's tables (procrastinate)")
                await app.schema_manager.apply_schema_async()


@contextlib.asynccontextmanager
async def open_run_queue(
    settings: Settings, *, pool_max: int = API_QUEUE_POOL_MAX
) -> AsyncIterator[RunQueue]:
    """The run queue on ``SOPHIA_POSTGRES_URL`` (its tables created when missing), open
    for the block."""
    if not settings.postgres_url:
        from stores.errors import ConfigurationError

        raise ConfigurationError("the run queue needs SOPHIA_POSTGRES_URL")
    app = make_app(settings.postgres_url, pool_max=pool_max)
    async with app.open_async():
        await install_schema(app, settings.postgres_url)
        yield RunQueue(app)
