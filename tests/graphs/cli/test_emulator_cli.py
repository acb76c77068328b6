"""`sophia emulator` prints a URL a person can copy whole, even at 80 columns."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from typing import IO

import pytest

from tests.graphs.cli.conftest import SCRIPT, clean_env

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def running_emulator(argv: list[str], until: str) -> Iterator[list[str]]:
    """`sophia emulator ARGV` on a free port: yields its stdout lines up to `until`; stops
    it with Ctrl-C afterwards and checks that it exits 0."""
    errors = tempfile.TemporaryFile("w+")  # shown if the emulator fails
    process = subprocess.Popen(
        [str(SCRIPT), "emulator", "--port", "0", "--scale", "0.002", *argv],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while line := process.stdout.readline():
            lines.append(line.rstrip("\n"))
            if until in line:
                break
        assert lines and until in lines[-1], _stderr(errors)
        yield lines
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the emulator stops and exits 0
        assert process.wait(timeout=120) == 0, _stderr(errors)
        errors.close()


def _stderr(errors: IO[str]) -> str:
    errors.seek(0)
    return "the emulator's stderr:\n" + errors.read()[-3000:]


def _accepts(url: str) -> None:
    port = int(re.search(r"[?&]port=(\d+)", url).group(1))  # type: ignore[union-attr]
    socket.create_connection(("127.0.0.1", port), timeout=10).close()


def test_emulator_prints_its_url_and_the_export_line_unwrapped() -> None:
    with running_emulator([], until="Stop with Ctrl-C.") as lines:
        assert lines[0].startswith("warehouse emulator listening: snowflake://")
        url = lines[0].removeprefix("warehouse emulator listening: ")
        assert f"  export SOPHIA_WAREHOUSE_URL='{url}'" in lines
        assert "port=0" not in url
        _accepts(url)


def test_emulator_json_is_one_line() -> None:
    with running_emulator(["--json"], until="}") as lines:
        (line,) = lines
        printed = json.loads(line)
        assert printed["url"].startswith("snowflake://") and printed["port"] > 0
        _accepts(printed["url"])
