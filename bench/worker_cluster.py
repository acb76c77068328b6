"""The processes of the `workers` bench: API servers, workers and `langgraph dev`.

    async with Processes(root) as procs:
        async with postgres_schema(PG_DEFAULT) as pg_url:
            url = await start_sophia(procs, ..., workers=2, concurrency=8)

Every process runs in a session of its own (stopped as a group: SIGTERM, then SIGKILL),
with its own data dir and its output in ``<root>/<name>.log``, which errors quote. The
environment is the bench's without ``SOPHIA_*`` / ``OTEL_*`` settings, plus the shared
services: one warehouse (the emulator), one Postgres schema, one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.common import postgres_schema as common_schema
from stores.demo.local_redis import free_port

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
APPLICATION_NAME = "sophia_bench_workers"
"""Every Postgres connection of the bench's processes carries it (pg_stat_activity)."""
READY_DEADLINE_S = 240.0  # a loaded 2-core machine: poll, never assume a start time
STOP_GRACE_S = 30.0
ENTRY = Path(__file__).resolve().parent.parent / "graphs" / "langgraph_entry.py"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without SOPHIA_*/OTEL_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOPHIA_", "OTEL_"))}  # fmt: skip
    return {**env, **extra}


def postgres_schema(base_url: str) -> contextlib.AbstractAsyncContextManager[str]:
    """`bench.common.postgres_schema` whose connections carry `APPLICATION_NAME` (so the
    bench can count this scenario's Postgres connections)."""
    return common_schema(base_url, application_name=APPLICATION_NAME)


class Processes:
    """The processes of one configuration; all stopped when the block ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    async def __aenter__(self) -> Processes:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.gather(*(asyncio.to_thread(_stop, p) for p in self.started.values()))

    def log(self, name: str) -> str:
        """The end of what process `name` printed."""
        return (self.root / f"{name}.log").read_text(errors="replace")[-3000:]

    async def start(
        self, name: str, argv: list[str], env: dict[str, str], ready: str,
        *, post: bool = False, cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        """Start `argv` as `name`; return it once `ready` answers 200 (a POST with an
        empty JSON body, and a non-empty answer, when `post`). RuntimeError quoting its
        log if it exits or the deadline passes."""
        import httpx

        with (self.root / f"{name}.log").open("wb") as out:
            # A bench driver starting its servers: blocking for a moment is fine here.
            process = subprocess.Popen(  # noqa: ASYNC220
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=cwd or self.root,
            )  # fmt: skip
        self.started[name] = process
        deadline = time.monotonic() + READY_DEADLINE_S
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}): {self.log(name)}")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    got = await (http.post(ready, json={}) if post else http.get(ready))
                    if got.status_code == 200 and (not post or got.json()):
                        return process
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} was not ready in time: {self.log(name)}")
                await asyncio.sleep(0.3)

    def pids(self) -> dict[str, int]:
        """Each running process's pid, by name."""
        return {n: p.pid for n, p in self.started.items() if p.poll() is None}


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to its process group, SIGKILL after `STOP_GRACE_S`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _sophia(*args: str) -> list[str]:
    return [sys.executable, "-m", "graphs.cli.main", *args]


async def start_sophia(
    procs: Processes, *, warehouse_url: str, postgres_url: str, redis_url: str,
    workers: int, concurrency: int,
) -> str:  # fmt: skip
    """One `sophia serve` (runs in-process when `workers` is 0, else queued) and
    `workers` `sophia worker --concurrency N`; the API server's URL once all are ready.
    The API server starts first (it creates the tables), the workers then at once."""

    def env(name: str) -> dict[str, str]:
        return clean_env(
            SOPHIA_DATA_DIR=str(procs.root / name), SOPHIA_WAREHOUSE_URL=warehouse_url,
            SOPHIA_POSTGRES_URL=postgres_url, SOPHIA_REDIS_URL=redis_url,
            SOPHIA_RUN_QUEUE="postgres" if workers else "none", SOPHIA_TRACE_FILE="false",
        )  # fmt: skip

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    await procs.start("api", _sophia("serve", "--port", str(port)), env("api"), f"{url}/readyz")
    metrics = [free_port() for _ in range(workers)]
    await asyncio.gather(*(
        procs.start(f"worker{i}", _sophia("worker", "--concurrency", str(concurrency),
                                          "--metrics-port", str(m)),
                    env(f"worker{i}"), f"http://127.0.0.1:{m}/healthz")
        for i, m in enumerate(metrics, 1)
    ))  # fmt: skip
    return url


async def start_langgraph_dev(
    procs: Processes, binary: str, *, warehouse_url: str, redis_url: str, jobs: int
) -> str:
    """`langgraph dev` serving the project's graphs (`graphs/langgraph_entry.py`) on the
    same warehouse and Redis, at most `jobs` runs at once; its URL once its assistants
    are listed."""
    config = procs.root / "langgraph.json"
    config.write_text(json.dumps({
        "graphs": {"deal_review": f"{ENTRY}:deal_review"},
        "http": {"app": f"{ENTRY}:app"},
        "dependencies": [str(ENTRY.parent.parent)],
    }))  # fmt: skip
    port = free_port()
    argv = [
        binary,
        "dev",
        "--config",
        str(config),
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
        "--n-jobs-per-worker",
        str(jobs),
        "--server-log-level",
        "warning",
    ]
    env = clean_env(
        SOPHIA_DATA_DIR=str(procs.root / "langgraph-dev"), SOPHIA_WAREHOUSE_URL=warehouse_url,
        SOPHIA_REDIS_URL=redis_url, SOPHIA_TRACE_FILE="false", LANGSMITH_TRACING="false",
        LANGGRAPH_CLI_NO_ANALYTICS="1", LANGCHAIN_TRACING_V2="false",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    await procs.start("langgraph-dev", argv, env, f"{url}/assistants/search", post=True)
    return url


async def flush_redis(url: str) -> None:
    """Empty the bench's private Redis (each configuration starts with cold caches)."""
    import redis.asyncio as aioredis

    client: Any = aioredis.from_url(url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
