"""A command that serves HTTP, run as a subprocess for as long as a test needs it."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

READY_DEADLINE_S = 240.0  # a loaded 2-core machine: poll, never assume a start time


@contextlib.contextmanager
def http_process(
    argv: list[str], ready_url: str, *, env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv`, wait until GET `ready_url` answers 200, yield the process; terminate
    it afterwards (killed if it does not stop). Its output goes to `log`, which failures
    quote."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + READY_DEADLINE_S
            while True:
                assert process.poll() is None, log.read_text(errors="replace")
                try:
                    if httpx.get(ready_url, timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.5)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
