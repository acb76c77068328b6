"""The HTTP service behind ``sophia serve``: graphs over HTTP on one shared Engine.

    app = create_app(Settings())              # opens its own Engine in the lifespan
    app = create_app(engine=my_open_engine)   # or uses one the caller owns

Routes (each documented in ``/openapi.json``, see `graphs.server.openapi`): the graphs
(`graphs.server.graph_routes`), the operations routes (`graphs.server.ops_routes`), the
dashboard (`graphs.server.dashboard.routes`) and the LangGraph server API
(`graphs.server.langgraph_api.routes`). The service's own errors are JSON bodies
``{"error": code, "message": ...}`` (`graphs.server.errors`) and never carry a stack
trace; `serve` (`graphs.server.serve`) runs the app with uvicorn.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from graphs.engine.engine import Engine
from graphs.engine.registry import GraphRegistry
from graphs.server.dashboard.routes import dashboard_routes
from graphs.server.errors import HttpError, internal
from graphs.server.graph_routes import graph_routes
from graphs.server.langgraph_api.routes import sdk_routes
from graphs.server.langgraph_api.services import sdk_services
from graphs.server.limits import ConcurrencyLimiter, InFlightRuns
from graphs.server.openapi import documented
from graphs.server.ops_routes import ops_routes
from graphs.server.serve import app_from_env, serve
from stores.settings import Settings

__all__ = ["HttpConfig", "app_from_env", "create_app", "serve"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpConfig:
    """The service's limits: run slots, wait queue, per-request timeout, shutdown grace."""

    max_concurrency: int = 64
    max_waiting: int = 256
    request_timeout_s: float = 30.0
    shutdown_grace_s: float = 30.0


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    registry: GraphRegistry | None = None,
    max_concurrency: int = HttpConfig.max_concurrency,
    max_waiting: int = HttpConfig.max_waiting,
    request_timeout_s: float = HttpConfig.request_timeout_s,
    shutdown_grace_s: float = HttpConfig.shutdown_grace_s,
    auto_seed: bool = False,
) -> Starlette:
    """The ASGI app.

    Without `engine`, one Engine on `settings` (default: from the environment) is opened
    in the app's lifespan and closed on shutdown, after in-flight runs finish (waiting at
    most `shutdown_grace_s`). A given `engine` must already be open; the caller owns it.
    At most `max_concurrency` runs execute at once and `max_waiting` more queue; beyond
    that requests get 503 with Retry-After. A run longer than `request_timeout_s` gets 504.
    """
    config = HttpConfig(max_concurrency, max_waiting, request_timeout_s, shutdown_grace_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.config = config
        app.state.limiter = ConcurrencyLimiter(max_concurrency, max_waiting)
        app.state.in_flight = InFlightRuns()
        async with contextlib.AsyncExitStack() as stack:
            if engine is None:
                opened = settings or Settings()
                app.state.engine = await stack.enter_async_context(
                    Engine(opened, registry=registry, auto_seed=auto_seed,
                           configure_telemetry=True, freeze_gc=opened.gc_freeze)
                )  # fmt: skip
            else:
                app.state.engine = engine
            try:
                async with sdk_services(app):  # the API's store and cron scheduler
                    yield
            finally:
                if not await app.state.in_flight.wait_idle(shutdown_grace_s):
                    logger.warning(
                        "shutting down with %d runs still in flight after %gs",
                        app.state.in_flight.count,
                        shutdown_grace_s,
                    )
                # Background runs of the LangGraph SDK API stop before the engine closes.
                sdk_runs = getattr(app.state, "sdk_runs", None)
                if sdk_runs is not None:
                    await sdk_runs.aclose()

    routes = documented([*graph_routes(), *ops_routes(), *dashboard_routes(), *sdk_routes()])
    return Starlette(
        routes=list(routes),
        lifespan=lifespan,
        exception_handlers={Exception: _unhandled, 404: _not_found, 405: _not_allowed},
    )


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return internal().response()


async def _not_found(request: Request, exc: Exception) -> Response:
    return HttpError(404, "not_found", f"no route {request.url.path}").response()


async def _not_allowed(request: Request, exc: Exception) -> Response:
    message = f"{request.method} is not allowed on {request.url.path}"
    return HttpError(405, "method_not_allowed", message).response()
