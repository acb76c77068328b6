"""A small cluster for the worker tests: the local Postgres (a schema of the test's own),
a private redis-server, the warehouse emulator, API servers and workers as processes.

    with Cluster(tmp_path, pg_url, redis_url) as cluster:
        api = cluster.api("a")              # `sophia serve` on a free port, ready
        victim = cluster.worker("w1")       # `sophia worker`, ready (its /healthz)
        ...

Every process gets its own data dir (nothing shared on disk) and the same
``SOPHIA_RUN_QUEUE=postgres`` settings; each one's output goes to a log file the
assertions quote. Everything is stopped (and the emulator with it) when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from stores.demo.local_redis import free_port
from tests.graphs.cli.conftest import SCRIPT, clean_env
from tests.graphs.http_process import READY_DEADLINE_S


class Cluster:
    """Processes of one test (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        postgres_url: str,
        redis_url: str,
        *,
        stalled_s: float = 6.0,
        query_ms: float = 40.0,
        scale: float = 0.002,
        host: str = "127.0.0.1",
    ) -> None:
        self.root = root
        self.postgres_url = postgres_url
        self.redis_url = redis_url
        self.stalled_s = stalled_s
        self.query_ms = query_ms
        self.scale = scale
        self.host = host
        self.warehouse_url: str | None = None
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: dict[str, Path] = {}
        self.starting: list[tuple[subprocess.Popen[bytes], str, Path]] = []

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            stop(process)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        """The environment of process `name`: its own data dir, the shared services."""
        return clean_env(
            SOPHIA_DATA_DIR=str(self.root / name),
            SOPHIA_RUN_QUEUE="postgres",
            SOPHIA_POSTGRES_URL=self.postgres_url,
            SOPHIA_REDIS_URL=self.redis_url,
            SOPHIA_WORKER_STALLED_S=str(self.stalled_s),
            SOPHIA_WAREHOUSE_URL=self.warehouse(),
            SOPHIA_MEMORY_BUILD="inline",
            SOPHIA_SEED_SCALE=str(self.scale),
            SOPHIA_GC_FREEZE="false",
            OTEL_BSP_SCHEDULE_DELAY="100",  # spans reach the trace file within 0.1 s
            **extra,
        )

    def warehouse(self) -> str:
        """The emulator's URL (started on first use, stopped with the cluster)."""
        if self.warehouse_url is None:
            log = self._log("emulator")
            process = subprocess.Popen(
                [str(SCRIPT), "emulator", "--port", "0", "--scale", str(self.scale), "--json",
                 "--login-ms", "0", "--query-ms", str(self.query_ms), "--host", self.host],
                stdout=subprocess.PIPE, stderr=log.open("wb"), env=clean_env(),
            )  # fmt: skip
            self.processes.append(process)
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, log.read_text(errors="replace")
            self.warehouse_url = str(json.loads(line)["url"])
        return self.warehouse_url

    def api(self, name: str, *, on: Any = None, wait: bool = True, **extra: str) -> str:
        """Start `sophia serve` as `name` (in network namespace `on`, a
        `tests.graphs.netns_hosts.Host`, when given); its base URL once ready."""
        port, host = free_port(), on.ip if on is not None else self.host
        argv = [str(SCRIPT), "serve", "--host", host, "--port", str(port)]
        if host != "127.0.0.1":
            argv.append("--insecure")
        base = f"http://{host}:{port}"
        self.start(name, argv, f"{base}/readyz", on=on, wait=wait, **extra)
        return base

    def worker(
        self, name: str, *, concurrency: int = 4, on: Any = None, wait: bool = True, **extra: str
    ) -> subprocess.Popen[bytes]:
        """Start `sophia worker` as `name` (in namespace `on` when given), ready (its
        /healthz answers)."""
        port, host = free_port(), on.ip if on is not None else self.host
        argv = [str(SCRIPT), "worker", "--concurrency", str(concurrency), "--grace", "1",
                "--metrics-port", str(port), "--metrics-host", host]  # fmt: skip
        return self.start(name, argv, f"http://{host}:{port}/healthz", on=on, wait=wait,
                          **extra)  # fmt: skip

    def start(
        self, name: str, argv: list[str], ready_url: str, *, on: Any = None, wait: bool = True,
        **extra: str,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` as `name` (in namespace `on` when given); return it once GET
        `ready_url` answers 200 (without `wait`: at once; `ready` waits for it)."""
        log = self._log(name)
        spawn = on.popen if on is not None else subprocess.Popen
        process = spawn(argv, env=self.env(name, **extra),
                        stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
        self.processes.append(process)
        self.starting.append((process, ready_url, log))
        if wait:
            self.ready()
        return process

    def ready(self) -> None:
        """Wait until every process started so far answers (they start side by side)."""
        for process, url, log in self.starting:
            wait_ready(process, url, log)
        self.starting.clear()

    def log(self, name: str) -> str:
        """What process `name` printed so far."""
        return self.logs[name].read_text(errors="replace")

    def _log(self, name: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs[name] = self.root / f"{name}.log"
        return self.logs[name]


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until GET `url` answers 200 (AssertionError quoting `log` if the process dies or
    the deadline passes)."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while True:
        assert process.poll() is None, log.read_text(errors="replace")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.3)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGKILL if it has not stopped within 60 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_rows(postgres_url: str) -> list[dict[str, Any]]:
    """Every run record in the cluster's database (status, thread, kwargs parsed)."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT run_id, thread_id, status, kwargs, error, updated_at FROM sophia_runs"
        ).fetchall()
    return [{"run_id": r[0], "thread_id": r[1], "status": r[2], "kwargs": json.loads(r[3]),
             "error": r[4], "updated_at": r[5]} for r in rows]  # fmt: skip


def node_spans(data_dir: Path) -> list[dict[str, Any]]:
    """The spans a process wrote to its trace file (none when it wrote none)."""
    path = data_dir / "traces.jsonl"
    if not path.exists():
        return []
    spans = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            spans.append(json.loads(line))
    return spans


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def job_timeline(postgres_url: str, run_ids: list[str]) -> list[tuple[Any, ...]]:
    """The queue's events (deferred, started, retried, ...) of the jobs of `run_ids`, with
    their times: what an assertion about recovery quotes."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT j.args->>'run_id', e.type::text, extract(epoch FROM e.at)"
            " FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id"
            " WHERE j.args->>'run_id' = ANY(%s) ORDER BY e.at",
            (run_ids,),
        ).fetchall()
