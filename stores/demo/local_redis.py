"""Throwaway local services for the demo, the benches and the tests: a free port, a redis-server.

Real parts, owned by whoever starts them: `LocalRedis` runs the machine's own
``redis-server`` on a free loopback port with no persistence, in a directory the caller
owns, and can be stopped and started again on the same port (for outage scenarios).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from stores.errors import ConfigurationError

START_TIMEOUT_S = 60.0  # generous: a loaded 2-core machine starts processes slowly


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisNotInstalledError(ConfigurationError):
    """There is no ``redis-server`` on PATH."""


class LocalRedis:
    """A redis-server on a free loopback port (no persistence); stop and start at will.

    Raises `RedisNotInstalledError` when there is no ``redis-server`` on PATH. Use as a
    context manager, or call `start` / `stop`; the port stays the same across restarts.
    """

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisNotInstalledError("redis-server is not on PATH (apt-get install redis)")
        self.binary = binary
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING (RuntimeError after 60 s)."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Terminate the server and wait for it to exit (a no-op when it is not running)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> LocalRedis:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
