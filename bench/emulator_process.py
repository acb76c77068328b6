"""The warehouse emulator in a process of its own, as a remote Snowflake would be.

In-process, the emulator's own work (fakesnow translating each statement with sqlglot,
then DuckDB) holds the client's GIL: a side that overlaps statements (the engine) pays
for the server's CPU on its own event loop, a side that waits for one statement at a
time (the old platform) barely does. A remote warehouse costs its clients no CPU, so
the benches that measure concurrency run `sophia emulator` as a subprocess instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator

STARTUP_TIMEOUT_S = 180.0


@contextlib.asynccontextmanager
async def emulator_process(
    scale: float, *, login_ms: float = 300.0, query_ms: float = 40.0
) -> AsyncIterator[str]:
    """Serve the demo data at `scale` from ``sophia emulator`` on a free port; yields its URL.

    The data is the same as ``demo_data.generate(DemoSizes().scaled(scale))`` (default
    seed). The process is stopped on exit; RuntimeError (with its stderr) if it does
    not come up within STARTUP_TIMEOUT_S.
    """
    command = [
        sys.executable, "-m", "graphs.cli.main", "emulator", "--port", "0", "--scale", str(scale),
        "--login-ms", str(login_ms), "--query-ms", str(query_ms),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as stderr:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
        assert process.stdout is not None
        drain: asyncio.Task[None] | None = None
        try:
            url = await asyncio.wait_for(_listening_url(process.stdout), STARTUP_TIMEOUT_S)
            if url is None:
                await process.wait()
                stderr.seek(0)
                tail = stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the emulator exited with status {process.returncode}:\n{tail}")
            drain = asyncio.create_task(_drain(process.stdout))
            yield url
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            if drain is not None:
                drain.cancel()


async def _listening_url(stdout: asyncio.StreamReader) -> str | None:
    """The URL from the emulator's ``warehouse emulator listening: URL`` line (None at EOF)."""
    marker = "warehouse emulator listening: "
    while line := await stdout.readline():
        text = line.decode(errors="replace").strip()
        if text.startswith(marker):
            return text.removeprefix(marker)
    return None


async def _drain(stdout: asyncio.StreamReader) -> None:
    """Keep reading so the emulator never blocks on a full pipe."""
    while await stdout.read(65536):
        pass
