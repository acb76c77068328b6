"""Which job queue should run workflow runs? procrastinate, arq and Celery, measured.

    uv run --with arq --with celery python bench/queue_choice.py

(arq and Celery are not project dependencies: uv adds them to a throwaway environment.) Needs
PostgreSQL on 127.0.0.1:5432 (trust auth, db ``test``; a database of its own is created and
dropped), ``redis-server`` on PATH (a private one on a free loopback port) and RabbitMQ on
127.0.0.1:5672 (guest/guest; a queue of its own, deleted). Per library, worker processes
(concurrency 8) run a job that only writes its start time to a file. Measured: enqueue ->
start latency of 200 jobs enqueued one by one at 20/s; jobs/s from first enqueue to last
start of 1000 no-op jobs enqueued at once; whether, and how long after, a 60 s job starts
again when its worker's process group is SIGKILLed and a fresh worker starts (cap 90 s); how
many of 4 jobs of 0.5 s with one key ran, and how many at once. Prints a markdown table and
the facts behind it in about 3 min (at most 5.5); removes all it started, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

CONCURRENCY = 8
LATENCY_JOBS, LATENCY_RATE, BURST_JOBS = 200, 20.0, 1000
SLEEPER_S, RECOVERY_CAP_S = 60.0, 90.0
LOCK_JOBS, LOCK_JOB_S = 4, 0.5
STALLED_S = 15.0  # procrastinate: the project's SOPHIA_WORKER_STALLED_S default
RETRY_CRON = "* * * * * */2"  # procrastinate: look for stalled jobs every 2 s
ARQ_JOB_TIMEOUT_S = 65  # arq: must exceed the longest job (the 60 s sleeper)
BUDGET_S = 330.0
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _stamp(out: str, key: str, kind: str, token: str = "") -> str:
    """The job's only work: write time.time() to ``<out>/<key>~<token>.<kind>``."""
    now, token = repr(time.time()), token or uuid.uuid4().hex
    tmp = Path(out) / f"{key}~{token}.tmp"
    tmp.write_text(now)
    os.replace(tmp, Path(out) / f"{key}~{token}.{kind}")  # readers never see a partial file
    return token


async def _job(out: str, key: str, sleep_s: float) -> None:
    token = _stamp(out, key, "start")
    if sleep_s:
        await asyncio.sleep(sleep_s)
        _stamp(out, key, "end", token)


def _job_sync(out: str, key: str, sleep_s: float) -> None:
    token = _stamp(out, key, "start")
    if sleep_s:
        time.sleep(sleep_s)
        _stamp(out, key, "end", token)


def _procrastinate_worker(cfg: dict[str, Any]) -> None:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=cfg["dsn"]))
    app.task(name="record")(_job)

    # procrastinate's documented recovery: a periodic task retrying the jobs of workers
    # whose heartbeat is older than the threshold.
    @app.periodic(cron=RETRY_CRON)
    @app.task(name="retry_stalled", queueing_lock="retry_stalled")
    async def retry_stalled(timestamp: int) -> None:
        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_S):
            await app.job_manager.retry_job(job)

    async def main() -> None:
        async with app.open_async():
            await app.run_worker_async(concurrency=CONCURRENCY, stalled_worker_timeout=STALLED_S,
                                       update_heartbeat_interval=STALLED_S / 3)

    asyncio.run(main())


def _arq_worker(cfg: dict[str, Any]) -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    async def record(ctx: dict[str, Any], out: str, key: str, sleep_s: float) -> None:
        await _job(out, key, sleep_s)

    Worker(functions=[func(record, name="record")], max_jobs=CONCURRENCY,
           redis_settings=RedisSettings(host="127.0.0.1", port=cfg["port"]),
           job_timeout=ARQ_JOB_TIMEOUT_S).run()


def _celery_app(cfg: dict[str, Any]) -> Any:
    from celery import Celery

    app = Celery("queue_choice", broker=AMQP_URL)
    app.conf.update(
        task_default_queue=cfg["queue"], task_acks_late=True, task_reject_on_worker_lost=True,
        worker_enable_remote_control=False,  # no pidbox queues left on the broker
        broker_connection_retry_on_startup=True)
    app.task(name="record")(_job_sync)
    return app


def _celery_worker(cfg: dict[str, Any]) -> None:
    _celery_app(cfg).worker_main([
        "worker", "-Q", cfg["queue"], "-c", str(CONCURRENCY), "-l", "WARNING", "-n",
        f"qc_{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat"])


WORKERS = {"procrastinate": _procrastinate_worker, "arq": _arq_worker, "celery": _celery_worker}


@dataclass
class Backend:
    """One library's client; ``cfg`` is what its workers need. ``enqueue(key, sleep_s, lock)``
    is False when the library refused the job; ``enqueue_many`` enqueues no-op jobs at once."""

    cfg: dict[str, Any]
    per_key: str
    enqueue: Callable[[str, float, str | None], Awaitable[bool]]
    enqueue_many: Callable[[list[str]], Awaitable[None]]


@contextlib.asynccontextmanager
async def _procrastinate(out: str) -> AsyncIterator[Backend]:
    import procrastinate
    import psycopg
    from psycopg import sql

    db = f"queue_choice_{uuid.uuid4().hex[:10]}"
    admin = await psycopg.AsyncConnection.connect(PG_ADMIN, autocommit=True)
    try:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        dsn = f"postgresql://postgres@127.0.0.1:5432/{db}"
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

        async def enqueue(key: str, sleep_s: float, lock: str | None) -> bool:
            await app.configure_task("record", lock=lock).defer_async(
                out=out, key=key, sleep_s=sleep_s)
            return True

        async def enqueue_many(keys: list[str]) -> None:
            args: list[dict[str, Any]] = [{"out": out, "key": k, "sleep_s": 0.0} for k in keys]
            await app.configure_task("record").batch_defer_async(*args)

        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            yield Backend({"dsn": dsn, "out": out}, "`lock=`", enqueue, enqueue_many)
    finally:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
        await admin.execute(drop)
        await admin.close()


@contextlib.asynccontextmanager
async def _arq(out: str) -> AsyncIterator[Backend]:
    from arq import create_pool
    from arq.connections import RedisSettings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        pool = await create_pool(RedisSettings(host="127.0.0.1", port=port))

        async def enqueue(key: str, sleep_s: float, lock: str | None) -> bool:
            return await pool.enqueue_job("record", out, key, sleep_s, _job_id=lock) is not None

        async def enqueue_many(keys: list[str]) -> None:
            for i in range(0, len(keys), 100):  # no batch API: 100 enqueues in flight at a time
                await asyncio.gather(*(enqueue(k, 0.0, None) for k in keys[i : i + 100]))

        try:
            yield Backend({"port": port, "out": out}, "`_job_id=` (dedupe)", enqueue, enqueue_many)
        finally:
            await pool.aclose()
    finally:
        await _stop(redis)


@contextlib.asynccontextmanager
async def _celery(out: str) -> AsyncIterator[Backend]:
    queue = f"queue_choice_{uuid.uuid4().hex[:10]}"
    app = _celery_app({"queue": queue})

    def send(keys: list[str], sleep_s: float) -> None:
        with app.producer_or_acquire() as producer:
            for key in keys:
                app.send_task("record", [out, key, sleep_s], queue=queue, producer=producer)

    def cleanup() -> None:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
            conn.default_channel.exchange_delete(queue)  # the default exchange is named so
        app.close()

    async def enqueue(key: str, sleep_s: float, lock: str | None) -> bool:
        await asyncio.to_thread(send, [key], sleep_s)  # `lock`: Celery has no such thing
        return True

    async def enqueue_many(keys: list[str]) -> None:
        await asyncio.to_thread(send, keys, 0.0)

    try:
        yield Backend({"queue": queue, "out": out}, "none built in", enqueue, enqueue_many)
    finally:
        await asyncio.to_thread(cleanup)


class Recorder:
    """Start and end times the jobs wrote, read once per file, by job key."""

    def __init__(self, out: Path) -> None:
        self.out, self.seen, self.runs = out, set[str](), dict[str, dict[str, list[float]]]()

    def _refresh(self) -> None:
        for entry in os.scandir(self.out):
            if entry.name.endswith(".tmp") or entry.name in self.seen:
                continue
            self.seen.add(entry.name)
            stem, kind = entry.name.rsplit(".", 1)
            key, token = stem.split("~")
            run = self.runs.setdefault(key, {}).setdefault(token, [math.nan, math.nan])
            run[1 if kind == "end" else 0] = float(Path(entry.path).read_text())

    def starts(self, key: str) -> list[float]:
        """Start times of ``key``'s runs, earliest first."""
        self._refresh()
        return sorted(run[0] for run in self.runs.get(key, {}).values() if run[0] == run[0])

    def intervals(self, keys: list[str]) -> list[tuple[float, float]]:
        """(start, end) of the finished runs of ``keys``."""
        self._refresh()
        runs = [r for k in keys for r in self.runs.get(k, {}).values()]
        return [(s, e) for s, e in runs if s == s and e == e]


async def _wait(done: Callable[[], bool], timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.1)
    return True


async def _start_worker(lib: str, cfg: dict[str, Any], log: Path) -> asyncio.subprocess.Process:
    """One worker process, in a session of its own so that its whole group can be killed."""
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, __file__, "worker", lib, json.dumps(cfg), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, SIGKILL it 3 s later (a Celery warm shutdown waits for its jobs)."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # the group: Celery's pool children too
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)


async def _measure(lib: str, b: Backend, tmp: Path, procs: list[Any], row: dict[str, str]) -> None:
    rec = Recorder(tmp / lib)
    procs.append(first := await _start_worker(lib, b.cfg, tmp / f"{lib}-1.log"))
    await b.enqueue("warm", 0.0, None)
    if not await _wait(lambda: bool(rec.starts("warm")), 120):
        log = (tmp / f"{lib}-1.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"no job started within 120 s; worker log:\n{log}")

    sent: dict[str, float] = {}
    begin = time.time()
    for i in range(LATENCY_JOBS):
        await asyncio.sleep(max(0.0, begin + i / LATENCY_RATE - time.time()))
        sent[f"lat-{i}"] = time.time()
        await b.enqueue(f"lat-{i}", 0.0, None)
    await _wait(lambda: all(rec.starts(k) for k in sent), 30)
    lat = sorted((rec.starts(k)[0] - t) * 1000 for k, t in sent.items() if rec.starts(k))
    missing = f"{LATENCY_JOBS - len(lat)} never started"
    pct = [lat[max(0, math.ceil(q * len(lat)) - 1)] if lat else math.nan for q in (0.5, 0.95)]
    row |= {"p50 ms": f"{pct[0]:.1f}", "p95 ms": f"{pct[1]:.1f}",
            "max ms": f"{lat[-1]:.1f}" if len(lat) == LATENCY_JOBS else missing}

    keys = [f"burst-{i}" for i in range(BURST_JOBS)]
    begin = time.time()
    await b.enqueue_many(keys)
    row["enqueue 1000 s"] = f"{time.time() - begin:.2f}"
    done = await _wait(lambda: all(rec.starts(k) for k in keys), 120)
    last = max((rec.starts(k)[0] for k in keys if rec.starts(k)), default=math.nan)
    row["burst jobs/s"] = f"{BURST_JOBS / (last - begin):.0f}" if done else (
        f"{sum(bool(rec.starts(k)) for k in keys)} of {BURST_JOBS} in 120 s")

    locked = [f"lock-{i}" for i in range(LOCK_JOBS)]
    accepted = [k for k in locked if await b.enqueue(k, LOCK_JOB_S, "one-key")]
    await _wait(lambda: len(rec.intervals(accepted)) >= len(accepted), 30)
    runs = rec.intervals(accepted)
    most = max((sum(s <= t < e for s, e in runs) for t, _ in runs), default=0)
    row["per key"] = f"{b.per_key}: {len(runs)} of {LOCK_JOBS} ran, max {most} at once"

    await b.enqueue("kill", SLEEPER_S, None)
    if not await _wait(lambda: bool(rec.starts("kill")), 30):
        row["killed worker"] = "sleeper never started"
        return
    os.killpg(first.pid, signal.SIGKILL)
    killed_at = time.time()
    procs.append(await _start_worker(lib, b.cfg, tmp / f"{lib}-2.log"))
    if await _wait(lambda: len(rec.starts("kill")) >= 2, RECOVERY_CAP_S):
        row["killed worker"] = f"restarted after {rec.starts('kill')[1] - killed_at:.1f} s"
    else:
        row["killed worker"] = f"not restarted within {RECOVERY_CAP_S:.0f} s"


COLUMNS = ["library", "p50 ms", "p95 ms", "max ms", "burst jobs/s", "enqueue 1000 s",
           "killed worker", "per key"]
BACKENDS = [("procrastinate", _procrastinate), ("celery", _celery), ("arq", _arq)]


async def _run_all(tmp: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    started, task = time.monotonic(), asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # clean up too
    for lib, backend in BACKENDS:
        row = {"library": f"{lib} {version(lib)}"}
        rows.append(row)
        print(f"measuring {lib}...", file=sys.stderr, flush=True)
        try:
            async with asyncio.timeout(BUDGET_S - (time.monotonic() - started)):
                async with backend(str(tmp / lib)) as b:  # tmp / lib: made by main()
                    procs: list[asyncio.subprocess.Process] = []
                    try:
                        await _measure(lib, b, tmp, procs, row)
                    finally:
                        await asyncio.gather(*(_stop(p) for p in procs))
        except TimeoutError:
            row["note"] = "stopped: time budget spent"
        except Exception as exc:
            row["note"] = f"failed: {type(exc).__name__}: {exc}"
    return rows


def _facts() -> str:
    return f"""
Facts (as configured above; one worker process of concurrency 8 at a time):
- procrastinate: NOTIFY wakes idle workers. A dead worker's job stays `doing` until
  `job_manager.get_stalled_jobs(seconds_since_heartbeat={STALLED_S:.0f})` + `retry_job()` run
  (here a periodic task, cron `{RETRY_CRON}`; heartbeats every {STALLED_S / 3:.0f} s): recovery
  costs the stall threshold, not the job's length. `lock=` runs one key's jobs one after
  another, in deferral order; `queueing_lock=` refuses a second queued job of a key.
- arq: workers poll Redis every 0.5 s (`poll_delay`). A dead worker's job re-runs only when
  its in-progress key expires, at job timeout + 10 s, and the timeout must exceed the longest
  run ({ARQ_JOB_TIMEOUT_S} s here; default 300 s); re-runs count against `max_tries` (5).
  `_job_id=` refuses a job while one of that id is queued, running or its result kept (1 h).
- Celery on RabbitMQ: with `task_acks_late=True` RabbitMQ redelivers when the worker's
  connection drops: recovery is the fresh worker's start-up (`task_reject_on_worker_lost`
  covers a pool child dying under a live parent). RabbitMQ's `consumer_timeout` (30 min
  here) closes a channel holding an unacked delivery longer: longer runs need it raised.
  Nothing per key: an external lock, or a queue per key with one consumer. It needs a broker
  the project does not run (it has Postgres and Redis)."""


def main() -> None:
    """``worker <lib> <cfg-json>`` runs one worker; no arguments runs the comparison."""
    if sys.argv[1:2] == ["worker"]:
        WORKERS[sys.argv[2]](json.loads(sys.argv[3]))
        return
    with TemporaryDirectory(prefix="queue_choice_") as tmp:
        for lib, _ in BACKENDS:
            Path(tmp, lib).mkdir()
        rows = asyncio.run(_run_all(Path(tmp)))
    columns = COLUMNS + (["note"] if any("note" in r for r in rows) else [])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row.get(c, "-") for c in columns) + " |")
    print(_facts())


if __name__ == "__main__":
    main()
