"""`sophia serve --workers 2`: the installed console script, two worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from graphs.server.app import serve
from stores.errors import ConfigurationError
from stores.settings import Settings
from tests.graphs.server.live_server import free_port


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during startup"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no answer from {url} within {timeout_s:g}s")


def test_two_workers_serve_and_stop_gracefully(tmp_path: Path, small_warehouse: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPHIA_", "OTEL_"))}
    env |= {
        "SOPHIA_DATA_DIR": str(tmp_path / "data"),
        "SOPHIA_WAREHOUSE_URL": f"duckdb:///{small_warehouse}",
    }
    script = Path(sys.executable).parent / "sophia"
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        # uvicorn reports ready once the first worker listens; each opens its own engine
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            children = psutil.Process(process.pid).children(recursive=True)
            workers = {c.pid for c in children if "python" in c.name().lower()}
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        assert len(workers) >= 2, workers
        for i in range(1, 7):  # a new connection each time, whichever worker takes it
            with httpx.Client(base_url=url, timeout=30) as client:
                answer = client.post(
                    "/graphs/deal_review/invoke", json={"deal_ids": [f"D-{i:05d}"]}
                )
                assert answer.status_code == 200 and answer.json()["status"] == "complete"
                assert client.get("/stats").json()["pid"] in workers
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    log = process.stderr.read().decode() if process.stderr else ""
    assert code == 0, log
    # uvicorn's supervisor kills a worker that does not answer its health check in time
    # (5 s by default: busy machines lost workers while they imported); ours waits
    # SOPHIA_WORKER_START_TIMEOUT_S.
    assert "died" not in log and "not ready in time" not in log, log


def test_workers_read_settings_from_the_environment(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="SOPHIA_"):
        serve(settings=settings, workers=2)
    with pytest.raises(ConfigurationError, match="workers must be >= 1"):
        serve(workers=0)
