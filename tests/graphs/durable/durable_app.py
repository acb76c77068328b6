"""A test app: the HTTP service plus the SDK API, on a deal review that counts its agents.

Served by the durable tests, in process (`build_app`) or in a uvicorn subprocess
(``uvicorn --factory durable_app:create --app-dir tests/graphs``) configured by the
environment:

- ``SOPHIA_*``: the engine settings (warehouse, data dir, Postgres URL, ...);
- ``SOPHIA_TEST_COUNT_FILE``: every source agent appends ``start <name>`` and
  ``done <name>`` lines to this file, so a test counts executions across processes;
- ``SOPHIA_TEST_SLOW_NODE`` / ``SOPHIA_TEST_SLOW_S``: that agent sleeps first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime
from starlette.applications import Starlette

from graphs import GraphRegistry
from graphs.server.app import create_app
from graphs.server.langgraph_api.routes import sdk_routes
from graphs.workflows import deal_review
from nodes.context import Resources
from nodes.isolation import NodeFn
from stores.settings import Settings


def counting(name: str, fn: NodeFn, count_file: Path | None, slow_s: float) -> NodeFn:
    """`fn`, logging its start and end to `count_file`, sleeping `slow_s` first."""

    def log(line: str) -> None:
        if count_file is not None:
            with count_file.open("a") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    async def run(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        log(f"start {name}")
        if slow_s:
            await asyncio.sleep(slow_s)
        result = await fn(state, runtime)
        log(f"done {name}")
        return result

    return run


def registry_from_env() -> GraphRegistry:
    """deal_review with counting (and maybe one slow) agents, from the environment."""
    count = os.environ.get("SOPHIA_TEST_COUNT_FILE")
    slow_node = os.environ.get("SOPHIA_TEST_SLOW_NODE")
    slow_s = float(os.environ.get("SOPHIA_TEST_SLOW_S", "0"))
    agents = {
        name: counting(
            name, fn, Path(count) if count else None, slow_s if name == slow_node else 0.0
        )
        for name, fn in deal_review.AGENTS.items()
    }
    timeouts = {slow_node: slow_s + 30.0} if slow_node else {}
    spec = dataclasses.replace(
        deal_review.SPEC, build=lambda: deal_review.build_graph(agents, timeouts=timeouts)
    )
    return GraphRegistry([spec])


def build_app(settings: Settings, registry: GraphRegistry | None = None) -> Starlette:
    """The service's app (`graphs.server.app.create_app`) with the SDK routes mounted."""
    app = create_app(settings, registry=registry or registry_from_env())
    app.router.routes.extend(sdk_routes())
    return app


def create() -> Starlette:
    """uvicorn factory: settings and test knobs from the environment."""
    return build_app(Settings())


def counts(count_file: Path) -> dict[str, int]:
    """``{"start hubspot": 1, "done hubspot": 1, ...}`` from a count file."""
    out: dict[str, int] = {}
    if count_file.exists():
        for line in count_file.read_text().splitlines():
            if line.strip():
                out[line.strip()] = out.get(line.strip(), 0) + 1
    return out
