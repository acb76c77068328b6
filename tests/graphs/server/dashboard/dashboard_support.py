"""Test support for the dashboard: a registry with a flaky graph, and a live server.

`DashboardServer` serves the HTTP service (graphs.server.app) plus the dashboard routes on
a free loopback port with uvicorn, the engine opened on the server's own event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any

import uvicorn
from langgraph.runtime import Runtime

from graphs.engine.engine import Engine
from graphs.engine.registry import GraphRegistry
from graphs.server.app import create_app
from graphs.server.dashboard.routes import dashboard_routes
from graphs.workflows import deal_review
from nodes.context import Resources
from stores.settings import Settings
from tests.graphs.server.live_server import free_port

FLAKY = "deal_review_flaky"
"""A deal review whose Slack agent always fails, slowly (its runs are partial)."""


SLOW_FAILURE_S = 0.25
"""How long the broken Slack agent takes to fail: over the 200 ms agent threshold."""


async def broken_slack(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
    """A Slack agent whose API is down, and slow to say so (a threshold breach)."""
    await asyncio.sleep(SLOW_FAILURE_S)
    raise RuntimeError("slack API returned 503")


def registry_with_flaky() -> GraphRegistry:
    """The shipped deal review plus `FLAKY`, a copy with a failing Slack agent."""
    flaky = dataclasses.replace(
        deal_review.SPEC,
        name=FLAKY,
        build=lambda: deal_review.build_graph({"slack": broken_slack}),
    )
    return GraphRegistry([deal_review.SPEC, flaky])


class DashboardServer:
    """uvicorn on loopback serving create_app(engine=...) + dashboard_routes(), in a thread.

    The engine is opened (and closed) inside the thread's event loop; `engine` is set
    once the server has started.
    """

    def __init__(self, settings: Settings, registry: GraphRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or registry_with_flaky()
        self.port = free_port()
        self.engine: Engine | None = None
        self.server: uvicorn.Server | None = None
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by __enter__
            self._failed = exc

    async def _serve(self) -> None:
        engine = Engine(self.settings, registry=self.registry, configure_telemetry=True)
        async with engine:
            app = create_app(engine=engine, max_concurrency=16, request_timeout_s=60)
            app.router.routes.extend(dashboard_routes())
            config = uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
            self.server = uvicorn.Server(config)
            self.engine = engine
            await self.server.serve()

    def __enter__(self) -> DashboardServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server is not None and self.server.started:
                return self
            if not self._thread.is_alive():
                raise RuntimeError(f"the server exited during startup: {self._failed!r}")
            time.sleep(0.05)
        raise RuntimeError("the server did not start within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self._thread.join(timeout=30)
