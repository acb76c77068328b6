"""Durable runs: `sophia serve`'s SDK API vs `langgraph dev`, and checkpoint costs.

Both servers serve the same one-node 50 ms graph (`bench.durable_graph`) and are driven
by the same official client (`langgraph_sdk.get_client`): 1 and N concurrent clients
repeat ``runs.wait`` (stateless, and each on a thread of its own), ``runs.stream`` on
their thread, and ``threads.get_state``; p50, p95 and calls/s of each.
`langgraph dev` (in-memory runtime, ``--n-jobs-per-worker 50``) needs `langgraph-api`,
which cannot be installed beside our dev dependencies (schemathesis pins
jsonschema-rs 0.60, langgraph-api <0.30), so it runs from its own environment: set
``SOPHIA_LANGGRAPH_DEV`` to its `langgraph` executable (default: ``langgraph`` on PATH,
then ``/tmp/lgdev-venv/bin/langgraph``). Without it only our side is measured.

Also measured in process: the cost of checkpoints per superstep (SQLite, and Postgres
when ``SOPHIA_BENCH_POSTGRES_URL`` or the local 127.0.0.1:5432 is reachable), as the
extra time of threaded runs of a three-step graph over thread-less ones, per checkpoint.

    python -m bench.durable [--quick]
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypedDict

from bench.common import BenchRow, postgres_schema
from stores.demo.local_redis import free_port

GRAPH = "sleeper"
GRAPH_FILE = Path(__file__).with_name("durable_graph.py")
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def create_app() -> Any:
    """uvicorn factory: `sophia serve`'s app serving the bench graph, SDK API mounted."""
    from pydantic import BaseModel, ConfigDict

    from bench import durable_graph
    from graphs.engine.registry import GraphRegistry, GraphSpec
    from graphs.server.app import create_app as service_app
    from graphs.server.langgraph_api.routes import sdk_routes
    from stores.settings import Settings

    class SleeperInput(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int = 0

    # `work` is a node a caller may act as (threads.update_state(..., as_node="work"))
    spec = GraphSpec(GRAPH, "one node that waits 50 ms", durable_graph.build, SleeperInput,
                     goto_targets=frozenset({"work"}))  # fmt: skip
    app = service_app(Settings(), registry=GraphRegistry([spec]), max_concurrency=256)
    app.router.routes.extend(sdk_routes())
    return app


def _tail(log: Path) -> str:
    """The end of a server's log, for an error message."""
    return log.read_text(errors="replace")[-1500:]


def _env(extra: dict[str, str]) -> dict[str, str]:
    """The environment plus `extra`; an empty value removes the variable."""
    merged = {**os.environ, **extra}
    return {k: v for k, v in merged.items() if v != "" or k not in extra}


def _langgraph_dev() -> str | None:
    for candidate in (
        os.environ.get("SOPHIA_LANGGRAPH_DEV"),
        shutil.which("langgraph"),
        "/tmp/lgdev-venv/bin/langgraph",
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@asynccontextmanager
async def _server(
    command: list[str], env: dict[str, str], port: int, log: Path
) -> AsyncIterator[str]:
    """Run `command` until its port answers; yield its URL; stop it (process group)."""
    with log.open("wb") as out:
        # A bench driver starting its server once: blocking for a moment is fine here.
        process = subprocess.Popen(  # noqa: ASYNC220
            command, env=_env(env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=log.parent,  # langgraph dev writes .langgraph_api/
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited: {_tail(log)}")
                try:
                    response = await http.post(f"{url}/assistants/search", json={})
                    if response.status_code == 200 and response.json():
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start: {_tail(log)}")
                await asyncio.sleep(0.25)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# What one simulated user repeats: a run to completion without or on its own thread, a
# streamed run on its thread (every event read), or a read of its thread's state.
OPERATIONS = ("runs.wait stateless", "runs.wait threads", "runs.stream threads",
              "threads.get_state")  # fmt: skip


async def drive(url: str, clients: int, seconds: float, *, operation: str) -> dict[str, float]:
    """`clients` loops of `operation` (one of `OPERATIONS`) for `seconds`; p50/p95 ms,
    calls/s, errors."""
    from langgraph_sdk import get_client

    # One SDK client per simulated user, as separate callers would have: each keeps
    # its connection alive (a shared client keeps only 20 alive for 50 callers).
    users = [get_client(url=url, timeout=60) for _ in range(clients)]
    client = users[0]
    thread_ids: list[str | None] = [None] * clients
    if operation != "runs.wait stateless":
        thread_ids = [(await client.threads.create())["thread_id"] for _ in range(clients)]
    if operation == "threads.get_state":
        for tid in thread_ids:
            await client.runs.wait(tid, GRAPH, input={"n": 0})
    latencies: list[float] = []
    errors = 0
    await client.runs.wait(thread_ids[0], GRAPH, input={"n": -1})  # warm up
    stop = time.monotonic() + seconds

    async def once(i: int, n: int) -> bool:
        user, tid = users[i], thread_ids[i]
        if operation == "threads.get_state":
            state: Any = await user.threads.get_state(tid)  # type: ignore[arg-type]
            return bool(state["values"].get("done"))
        if operation == "runs.stream threads":
            events = [part.event async for part in user.runs.stream(
                tid, GRAPH, input={"n": n}, stream_mode="values")]  # fmt: skip
            return bool(events and events[0] == "metadata" and "error" not in events)
        out: Any = await user.runs.wait(tid, GRAPH, input={"n": n})
        return isinstance(out, dict) and bool(out.get("done"))

    async def loop(i: int) -> None:
        nonlocal errors
        n = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                if not await once(i, n):
                    errors += 1
                    continue
            except Exception:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1

    began = time.monotonic()
    try:
        await asyncio.gather(*(loop(i) for i in range(clients)))
    finally:
        for user in users:
            await user.aclose()
    elapsed = time.monotonic() - began
    if not latencies:
        return {"p50": math.nan, "p95": math.nan, "rps": 0.0, "errors": float(errors)}
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"p50": cuts[49], "p95": cuts[94], "rps": len(latencies) / elapsed,
            "errors": float(errors)}  # fmt: skip


async def _serve_and_drive(
    name: str, command: list[str], env: dict[str, str], port: int, tmp: Path,
    client_counts: tuple[int, ...], seconds: float,
) -> dict[tuple[str, int], dict[str, float]]:  # fmt: skip
    out: dict[tuple[str, int], dict[str, float]] = {}
    async with _server(command, env, port, tmp / f"{name}.log") as url:
        for clients in client_counts:
            for operation in OPERATIONS:
                got = await drive(url, clients, seconds, operation=operation)
                out[operation, clients] = got
                if got["errors"]:
                    print(f"{name} {operation} x{clients}: {got['errors']:.0f} errors",
                          file=sys.stderr)
    return out


class Counter(TypedDict, total=False):
    """State of the checkpoint-cost graph."""

    n: int


async def checkpoint_cost(url: str | None, runs: int) -> float:
    """Extra ms per checkpoint of threaded runs of a 3-step graph (SQLite or Postgres)."""
    from langgraph.graph import END, START, StateGraph

    from graphs.durable.store import open_durable
    from stores.settings import Settings

    def step(state: Counter) -> dict[str, Any]:
        return {"n": state.get("n", 0) + 1}

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(Counter)
    for name in ("a", "b", "c"):
        builder.add_node(name, step)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    with tempfile.TemporaryDirectory(prefix="sophia-ckpt-") as tmp:
        settings = Settings(data_dir=Path(tmp), postgres_url=url)
        async with open_durable(settings) as durable:
            await durable.ensure_ready()
            plain, saved = builder.compile(), builder.compile(checkpointer=durable.checkpointer)
            started = time.perf_counter()
            for i in range(runs):
                await plain.ainvoke({"n": i})
            plain_ms = (time.perf_counter() - started) * 1000 / runs
            prefix = uuid.uuid4().hex
            started = time.perf_counter()
            for i in range(runs):
                config: Any = {"configurable": {"thread_id": f"{prefix}-{i}"}}
                await saved.ainvoke({"n": i}, config, durability="sync")
            saved_ms = (time.perf_counter() - started) * 1000 / runs
            per_run = len([c async for c in durable.checkpointer.alist(
                {"configurable": {"thread_id": f"{prefix}-0"}})])  # fmt: skip
    return (saved_ms - plain_ms) / max(per_run, 1)


async def postgres_checkpoint_cost(base_url: str, runs: int) -> float:
    """`checkpoint_cost` in a schema of its own on `base_url`, dropped afterwards."""
    async with postgres_schema(base_url) as url:
        return await checkpoint_cost(url, runs)


def _pg_url() -> str | None:
    url = os.environ.get("SOPHIA_BENCH_POSTGRES_URL", PG_DEFAULT)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2):
            return url
    except Exception:
        return None


async def run(quick: bool) -> list[BenchRow]:
    """Both servers under the same load (each operation at 1 and 50 clients, 8 s each;
    quick: 1 and 10 clients, 3 s); checkpoint costs."""
    client_counts, seconds = ((1, 10), 3.0) if quick else ((1, 50), 8.0)
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="sophia-durable-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        ours = await _serve_and_drive(
            "sophia",
            [sys.executable, "-m", "uvicorn", "--factory", "bench.durable:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log"],
            {"SOPHIA_DATA_DIR": str(tmp / "data"), "SOPHIA_WAREHOUSE_URL": "duckdb:///:memory:",
             "SOPHIA_TRACE_FILE": "false", "SOPHIA_REDIS_URL": "", "SOPHIA_POSTGRES_URL": ""},
            port, tmp, client_counts, seconds,
        )  # fmt: skip
        theirs: dict[tuple[str, int], dict[str, float]] = {}
        binary = _langgraph_dev()
        if binary is None:
            print("langgraph dev not found (see bench/durable.py): ours only", file=sys.stderr)
        else:
            config = tmp / "langgraph.json"
            config.write_text(json.dumps({"graphs": {GRAPH: f"{GRAPH_FILE}:graph"},
                                          "dependencies": ["."]}))  # fmt: skip
            port = free_port()
            try:
                theirs = await _serve_and_drive(
                    "langgraph-dev",
                    [binary, "dev", "--config", str(config), "--port", str(port), "--no-browser",
                     "--no-reload", "--n-jobs-per-worker", "50", "--server-log-level", "warning"],
                    {"LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
                     "LANGCHAIN_TRACING_V2": "false"},
                    port, tmp, client_counts, seconds,
                )  # fmt: skip
            except RuntimeError as exc:
                print(f"langgraph dev could not be measured: {exc}", file=sys.stderr)
        for (operation, clients), mine in ours.items():
            other = theirs.get((operation, clients), {})
            label = f"{operation}, {clients} client{'s' if clients > 1 else ''}"
            p95_ratio = other.get("p95", math.nan) / mine["p95"] if mine["p95"] else math.nan
            judged = clients > 1 and operation.startswith("runs.wait")
            rows += [
                BenchRow(f"{label}: p50", other.get("p50", math.nan), mine["p50"], "ms"),
                BenchRow(f"{label}: p95", other.get("p95", math.nan), mine["p95"], "ms",
                         target=">= 10x lower than langgraph dev" if judged else "",
                         met=bool(p95_ratio >= 10) if judged and not math.isnan(p95_ratio)
                         else True),
                BenchRow(f"{label}: calls/s", other.get("rps", math.nan), mine["rps"], "calls/s",
                         target="higher is better"),
            ]  # fmt: skip
    runs = 30 if quick else 200
    rows.append(BenchRow("checkpoint per superstep, SQLite", math.nan,
                         await checkpoint_cost(None, runs), "ms"))  # fmt: skip
    pg = _pg_url()
    if pg is not None:
        rows.append(BenchRow("checkpoint per superstep, Postgres", math.nan,
                             await postgres_checkpoint_cost(pg, runs), "ms"))  # fmt: skip
    return rows


if __name__ == "__main__":
    from bench.common import main

    main(run, "durable runs: sophia serve vs langgraph dev; checkpoint costs")
