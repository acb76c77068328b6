"""A real ``sophia serve`` process: SIGTERM lets a background run finish (or suspends it, to
resume on the next start), and keys never appear in clear in its logs or its store.

The server reads a warehouse emulator (the real Snowflake connector over HTTP) whose
statements are made slow, so that a run is certainly in progress when SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from graphs.durable.runs import RESUME_FLAG
from graphs.durable.store import open_durable
from stores.demo import data as demo_data
from stores.demo.emulator import WarehouseEmulator
from stores.demo.local_redis import free_port
from stores.settings import Settings
from tests.graphs.server.auth_support import make_key

HEALTHY = "D-00010"
STARTUP_S = 180.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[WarehouseEmulator]:
    with WarehouseEmulator(login_ms=0, query_ms=0,
                           data=demo_data.generate(demo_data.SMALL)) as emu:  # fmt: skip
        yield emu


class Served:
    """``sophia serve`` in a child process on a free port, its output in `log`."""

    def __init__(self, data_dir: Path, warehouse_url: str, log: Path, *args: str) -> None:
        self.port = free_port()
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOPHIA_")}
        env.update({
            "SOPHIA_DATA_DIR": str(data_dir), "SOPHIA_WAREHOUSE_URL": warehouse_url,
            "SOPHIA_TRACE_FILE": "false", "SOPHIA_GC_FREEZE": "false",
            "OTEL_SDK_DISABLED": "true",
        })  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "graphs.cli.main", "serve", "--port", str(self.port),
                 *args],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> Served:
        deadline = time.monotonic() + STARTUP_S
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"sophia serve exited: {self.log.read_text()[-3000:]}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError("sophia serve did not start")

    async def terminate(self) -> bool:
        """SIGTERM; whether the server then shut down cleanly (uvicorn finishes its
        shutdown, then lets the signal end the process, as its default action would)."""
        self.process.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(self.process.wait, 180)
        return status in (0, -signal.SIGTERM) and "Application shutdown complete" in (
            self.log.read_text()
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


async def _until(check: object, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never saw {what}")


async def test_sigterm_lets_a_background_run_finish_and_keys_stay_secret(
    tmp_path: Path, emulator: WarehouseEmulator
) -> None:
    settings = Settings(data_dir=tmp_path / "data", warehouse_url=emulator.url)
    _, key = await make_key(settings, "ana")
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    emulator.set_latency(query_ms=1500)  # each statement 1.5 s: the run takes seconds
    server = await Served(settings.data_dir, emulator.url, tmp_path / "serve.log",
                          "--grace", "120").ready()  # fmt: skip
    try:
        client = get_client(url=server.url, api_key=key)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            assert (await http.get("/graphs", headers={"x-api-key": wrong})).status_code == 401
            assert (await http.get("/graphs", headers={"authorization": f"Bearer {key}"})
                    ).status_code == 200  # fmt: skip
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})

        async def running() -> bool:
            return (await client.runs.get(tid, run["run_id"]))["status"] == "running"

        await _until(running, "the run running")
        assert await server.terminate()
    finally:
        server.kill()
        emulator.set_latency(query_ms=0)
    async with open_durable(settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        record = await durable.runs.get(run["run_id"])
        assert record is not None and record.status == "complete", record
        thread = await durable.threads.get(tid)
        assert thread is not None and thread.status == "idle"
        assert thread.values is not None and thread.values["report"][HEALTHY]["health_score"]
    log = server.log.read_text()
    assert log.splitlines()[0].endswith(
        "authentication is on: every route but /healthz and /readyz needs API keys"
    ), log[:500]
    secret = key.split("_", 2)[2]  # sophia_<id>_<secret>; the secret may hold "_" itself
    for path in [server.log, *settings.data_dir.rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            assert secret.encode() not in content, path
            assert wrong.split("_", 2)[2].encode() not in content, path


async def test_sigterm_past_the_grace_suspends_a_run_that_the_next_start_resumes(
    tmp_path: Path, emulator: WarehouseEmulator
) -> None:
    settings = Settings(data_dir=tmp_path / "data", warehouse_url=emulator.url)
    emulator.set_latency(query_ms=2000)
    first = await Served(settings.data_dir, emulator.url, tmp_path / "first.log",
                         "--grace", "0.5").ready()  # fmt: skip
    try:
        client = get_client(url=first.url)  # loopback, no key: open
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})

        async def running() -> bool:
            return (await client.runs.get(tid, run["run_id"]))["status"] == "running"

        await _until(running, "the run running")
        assert await first.terminate()
    finally:
        first.kill()
        emulator.set_latency(query_ms=0)
    assert "authentication is OFF" in first.log.read_text().splitlines()[0]
    async with open_durable(settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        suspended = await durable.runs.get(run["run_id"])
        assert suspended is not None and suspended.status == "pending"
        assert suspended.kwargs[RESUME_FLAG] is True

    second = await Served(settings.data_dir, emulator.url, tmp_path / "second.log").ready()
    try:
        client = get_client(url=second.url)

        async def finished() -> bool:
            got = await client.runs.get(tid, run["run_id"])
            return bool(got["status"] == "success")

        await _until(finished, "the resumed run finish")
        state = await client.threads.get_state(tid)
        assert state["next"] == [] and state["values"]["report"][HEALTHY]["health_score"]
        assert (await client.threads.get(tid))["status"] == "idle"
    finally:
        assert await second.terminate()
        second.kill()
    assert "resumed 1 runs" in second.log.read_text()
