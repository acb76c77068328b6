"""Start-up: how long a person waits around a run, against the two floors of this machine.

The floors are the interpreter's own start (``python -c pass``) and LangGraph's import
(``python -c "import langgraph.graph"``), which every command that runs a graph must pay.
Each command is the installed console script in a fresh process, timed end to end, the
median of several runs, side by side with the floors measured in the same run:

* ``sophia --help`` and ``sophia run --help``: must not import the engine (<= 10x the
  interpreter);
* ``sophia graphs`` (<= 1.2x the LangGraph floor);
* a warm ``sophia run deal_review`` (<= the LangGraph floor + 1.5 s);
* the first ``sophia run deal_review`` on a fresh data dir (seeding included; <= 30 s);
* a run with an OTLP endpoint where nothing listens (exit cost <= 1 s over a normal run).

Every command runs as on a user's machine: ``PYTHONDONTWRITEBYTECODE`` (set in some
containers and sandboxes) is left out of its environment, so the first run caches the
bytecode of the project's own modules as it would there. With it set, every "warm" run
compiles them again (0.3-0.4 s of a 2.9 s run in a profile here), while the floor's
site-packages were compiled at install.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BenchRow, main


def _sophia() -> str:
    script = Path(sys.executable).with_name("sophia")
    return str(script) if script.exists() else "sophia"


def _time(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of `cmd` in milliseconds (it must exit 0)."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=False)
        samples.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(samples)


class _AcceptingCollector:
    """An OTLP/HTTP endpoint on loopback that accepts every export (answers 200, empty
    body): the baseline of the unreachable-endpoint row, so that row measures only what
    an unreachable collector costs, not the exporters' import."""

    def __enter__(self) -> _AcceptingCollector:
        import http.server
        import threading

        class Accept(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Accept)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _dead_endpoint() -> str:
    with socket.socket() as sock:  # free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# Opens and closes one Engine on the data dir and prints how long that took (imports
# excluded: they are the rows above).
_OPEN_ENGINE = (
    "import asyncio, time\n"
    "from graphs import Engine\n"
    "from graphs.engine import engine\n"
    "async def main():\n"
    "    started = time.perf_counter()\n"
    "    async with Engine.from_env(configure_telemetry=False):\n"
    "        pass\n"
    "    print((time.perf_counter() - started) * 1000)\n"
    "asyncio.run(main())\n"
)


def _reported(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median of the milliseconds `cmd` prints as its last line."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=True)
        samples.append(float(done.stdout.decode().split()[-1]))
    return statistics.median(samples)


def _wait_for_index(data: Path, limit_s: float = 600) -> float:
    """Milliseconds until the background memory-index build of `data` is over."""
    from graphs.seeding.memory_build import read_status

    started = time.perf_counter()
    deadline = started + limit_s
    while time.perf_counter() < deadline:
        status = read_status(data)
        if status is None or not status.alive():
            return (time.perf_counter() - started) * 1000
        time.sleep(0.2)
    return float("nan")


async def run(quick: bool) -> list[BenchRow]:
    runs = 2 if quick else 7
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SOPHIA_", "OTEL_")) and k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="sophia-startup-") as tmp:
        data = Path(tmp) / "data"
        # the full run times the first run at the demo's real size; --quick at a tenth
        env = {**base, "SOPHIA_DATA_DIR": str(data), "SOPHIA_SEED_SCALE": "0.1" if quick else "1"}
        py, sophia = sys.executable, _sophia()
        interpreter = _time([py, "-c", "pass"], env, runs)
        floor = _time([py, "-c", "import langgraph.graph"], env, runs)
        first = _time([sophia, "run", "deal_review"], env, 1)  # seeds the fresh data dir
        index_ms = _wait_for_index(data)  # the index builds in a process of its own
        help_ms = _time([sophia, "--help"], env, runs)
        run_help = _time([sophia, "run", "--help"], env, runs)
        graphs = _time([sophia, "graphs"], env, runs)
        warm = _time([sophia, "run", "deal_review"], env, runs)
        with _AcceptingCollector() as collector:
            live = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
            reachable = _time([sophia, "run", "deal_review"], live, runs)
        dead = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": _dead_endpoint()}
        unreachable = _time([sophia, "run", "deal_review"], dead, runs)
        engine_open = _reported([py, "-c", _OPEN_ENGINE], env, runs)
    return [
        BenchRow("floor: python -c pass", interpreter, interpreter, target="(interpreter)"),
        BenchRow("floor: import langgraph.graph", interpreter, floor, target="(LangGraph)"),
        BenchRow("sophia --help (vs interpreter)", interpreter, help_ms,
                 target="<= 10x interpreter", met=help_ms <= 10 * interpreter),
        BenchRow("sophia run --help (vs interpreter)", interpreter, run_help,
                 target="<= 10x interpreter", met=run_help <= 10 * interpreter),
        BenchRow("sophia graphs (vs LangGraph floor)", floor, graphs,
                 target="<= 1.2x floor", met=graphs <= 1.2 * floor),
        BenchRow("warm sophia run deal_review (vs floor)", floor, warm,
                 target="<= floor + 1.5 s", met=warm <= floor + 1500),
        BenchRow("first sophia run on a fresh data dir", float("nan"), first,
                 target="<= 30 s", met=first <= 30_000),
        BenchRow("memory index ready, after the first run's answer", float("nan"), index_ms,
                 target="(background)"),
        BenchRow("engine open and close on an existing data dir", float("nan"),
                 engine_open, target="<= 1 s", met=engine_open <= 1000),
        BenchRow("run with an unreachable OTLP endpoint (vs one that answers)", reachable,
                 unreachable, target="<= +1 s", met=unreachable <= reachable + 1000),
    ]


if __name__ == "__main__":
    main(run, "Start-up: commands against the interpreter and LangGraph floors")
