"""The HTTP service behind ``sophia serve``: graphs over HTTP on one shared Engine.

    app = create_app(Settings())              # opens its own Engine in the lifespan
    app = create_app(engine=my_open_engine)   # or uses one the caller owns

Routes (each documented in ``/openapi.json``, see `graphs.server.openapi`): the graphs
(`graphs.server.graph_routes`), the operations routes (`graphs.server.ops_routes`), the
dashboard (`graphs.server.dashboard.routes`) and the LangGraph server API
(`graphs.server.langgraph_api.routes`). The service's own errors are JSON bodies
``{"error": code, "message": ...}`` (`graphs.server.errors`) and never carry a stack
trace; `serve` (`graphs.server.serve`) runs the app with uvicorn.

In front of every route (`graphs.server.guard`): the Host and Origin checks, CORS when
configured, and authentication (`graphs.server.auth`; settings:
`graphs.server.security.SecuritySettings`). Every run, from any route, is admitted by
one `graphs.server.limits.Admission` (per-key quotas, the queue bound, run slots).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from graphs.durable.store import Durable
from graphs.engine.engine import Engine
from graphs.engine.errors import EngineNotOpenError
from graphs.engine.registry import GraphRegistry
from graphs.server.auth import Authenticator
from graphs.server.dashboard.routes import dashboard_routes
from graphs.server.errors import HttpError, internal
from graphs.server.graph_routes import graph_routes
from graphs.server.guard import SecurityMiddleware, cors_middleware
from graphs.server.jwt_auth import JwtVerifier
from graphs.server.langgraph_api.routes import sdk_routes
from graphs.server.langgraph_api.runs import RunManager
from graphs.server.langgraph_api.services import sdk_services
from graphs.server.langgraph_api.webhooks import allowed_hosts
from graphs.server.limits import Admission, ConcurrencyLimiter, InFlightRuns
from graphs.server.openapi import documented
from graphs.server.ops_routes import ops_routes
from graphs.server.quotas import Quotas
from graphs.server.security import SecurityPolicy, SecuritySettings, resolve_policy
from graphs.server.serve import app_from_env, serve
from graphs.workers.remote import remote_runs
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
    security: SecuritySettings | None = None,
    host: str = "127.0.0.1",
    insecure: bool = False,
) -> Starlette:
    """The ASGI app.

    Without `engine`, one Engine on `settings` (default: from the environment) is opened
    in the app's lifespan and closed on shutdown. A given `engine` must already be open;
    the caller owns it. At most `max_concurrency` runs execute at once and `max_waiting`
    more queue; beyond that requests get 503 with Retry-After. A run longer than
    `request_timeout_s` gets 504 (a LangGraph API run ends ``timeout``).

    `security` (default: from ``SOPHIA_*``) says how callers authenticate; `host` is the
    address the app is served on (the default Host allow-list, and whether it may run
    without authentication: only on loopback unless `insecure`). Startup fails with
    ConfigurationError when the app would serve beyond loopback without authentication.

    On shutdown no run starts any more; runs in flight get `shutdown_grace_s` to finish;
    LangGraph API runs still going are then stopped and, on a thread, resumed from their
    last checkpoint when the service starts again.
    """
    config = HttpConfig(max_concurrency, max_waiting, request_timeout_s, shutdown_grace_s)
    security = security or SecuritySettings()
    policy = resolve_policy(security, host, insecure)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = app.state
        state.config, state.security = config, security
        state.limiter = ConcurrencyLimiter(max_concurrency, max_waiting)
        state.in_flight = InFlightRuns()
        quotas = Quotas(security.key_max_concurrent_runs, security.key_runs_per_minute)
        state.admission = Admission(state.limiter, quotas, state.in_flight)
        async with contextlib.AsyncExitStack() as stack:
            if engine is None:
                opened = settings or Settings()
                state.engine = await stack.enter_async_context(
                    Engine(opened, registry=registry, auto_seed=auto_seed,
                           configure_telemetry=True, freeze_gc=opened.gc_freeze)
                )  # fmt: skip
            else:
                state.engine = engine
            state.auth = await _authenticator(state.engine, security, policy)
            settings_now = state.engine.settings
            remote = await stack.enter_async_context(remote_runs(
                settings_now, state.engine.durable.runs if settings_now.run_queue != "none"
                else None))
            runs = state.sdk_runs = RunManager(
                state.engine, admission=state.admission, timeout_s=request_timeout_s,
                webhook_hosts=allowed_hosts(security.webhook_hosts), remote=remote,
            )  # fmt: skip
            if remote is None:  # queued runs are the workers' to resume
                await runs.recover()
            try:
                async with sdk_services(app):  # the API's store and cron scheduler
                    yield
            finally:
                await _drain(state.in_flight, runs, shutdown_grace_s)

    routes = documented([*graph_routes(), *ops_routes(), *dashboard_routes(), *sdk_routes()])
    return Starlette(
        routes=list(routes),
        lifespan=lifespan,
        middleware=[*cors_middleware(policy), Middleware(SecurityMiddleware, policy=policy)],
        exception_handlers={Exception: _unhandled, 404: _not_found, 405: _not_allowed},
    )


async def _authenticator(
    engine: Engine, security: SecuritySettings, policy: SecurityPolicy
) -> Authenticator:
    jwt = await asyncio.to_thread(JwtVerifier.load, security)
    try:
        durable: Durable | None = engine.durable
    except EngineNotOpenError:  # a caller's engine that is closed: nothing will verify
        durable = None
    auth = Authenticator(
        durable.keys if durable is not None else None, jwt, mode=security.auth,
        may_run_open=policy.may_run_open, bind_host=policy.bind_host,
        ready=durable.ensure_ready if durable is not None else None,
    )  # fmt: skip
    await auth.start()
    (logger.info if auth.required else logger.warning)("%s", auth.describe())
    return auth


async def _drain(in_flight: InFlightRuns, runs: RunManager, grace_s: float) -> None:
    """Let runs in flight finish within `grace_s`; suspend the LangGraph API runs left."""
    await asyncio.gather(in_flight.wait_idle(grace_s), runs.drain(grace_s))
    if in_flight.count:
        logger.warning("shutting down with %d runs still in flight after %gs",
                       in_flight.count, grace_s)  # fmt: skip


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return internal().response()


async def _not_found(request: Request, exc: Exception) -> Response:
    return HttpError(404, "not_found", f"no route {request.url.path}").response()


async def _not_allowed(request: Request, exc: Exception) -> Response:
    message = f"{request.method} is not allowed on {request.url.path}"
    return HttpError(405, "method_not_allowed", message).response()
