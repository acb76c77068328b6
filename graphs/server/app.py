"""The HTTP service behind ``sophia serve``: graphs over HTTP on one shared Engine.

    app = create_app(Settings())              # opens its own Engine in the lifespan
    app = create_app(engine=my_open_engine)   # or uses one the caller owns

Routes: ``GET /graphs``, ``POST /graphs/{name}/invoke``, ``POST /graphs/{name}/stream``
(server-sent events), ``GET /healthz``, ``/readyz``, ``/metrics``, ``/stats``,
``/openapi.json``. Errors are JSON bodies ``{"error": code, "message": ...}`` and never
carry a stack trace. A W3C ``traceparent`` header is continued into the run's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.propagate import extract
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import telemetry
from graphs.engine.engine import Engine
from graphs.engine.errors import GraphError, InvalidInputError, UnknownGraphError
from graphs.engine.registry import GraphRegistry
from graphs.engine.run_input import RunInput
from graphs.seeding.warehouse import seed_if_missing
from graphs.server.dashboard.routes import dashboard_routes
from graphs.server.health import readiness
from graphs.server.langgraph_api.routes import sdk_routes
from graphs.server.limits import ConcurrencyLimiter, InFlightRuns, OverloadedError
from graphs.server.openapi import openapi_document
from stores.errors import (
    CircuitOpenError,
    ConfigurationError,
    PoolTimeoutError,
    WarehouseUnavailableError,
)
from stores.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
_UNAVAILABLE = (CircuitOpenError, PoolTimeoutError, WarehouseUnavailableError)


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return str(value)


class JSON(JSONResponse):
    """A JSON response that also encodes dates, decimals and numpy values."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, default=_default, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSON:
    return JSON({"error": code, "message": message, **extra}, status_code=status, headers=headers)


@dataclass(frozen=True)
class HttpConfig:
    """The service's limits: run slots, wait queue, per-request timeout, shutdown grace."""

    max_concurrency: int = 64
    max_waiting: int = 256
    request_timeout_s: float = 30.0
    shutdown_grace_s: float = 30.0


class _BodyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def _read_input(request: Request) -> Any:
    """The JSON body (``{}`` when empty), bounded in size."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyError(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyError(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BodyError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _graph_error(exc: GraphError) -> JSON:
    if isinstance(exc, UnknownGraphError):
        return _error(404, "unknown_graph", str(exc), known=exc.known)
    if isinstance(exc, InvalidInputError):
        return _error(422, "invalid_input", str(exc), problems=exc.problems)
    return _error(400, "bad_request", str(exc))


def _failure(exc: BaseException, run_id: str, name: str) -> JSON:
    """The response for a run that raised: 503 for an unavailable dependency, else 500."""
    if isinstance(exc, _UNAVAILABLE):
        retry = max(1, round(getattr(exc, "retry_after_s", 1)))
        logger.warning("run %s of %s: dependency unavailable: %s", run_id, name, exc)
        return _error(
            503,
            "unavailable",
            f"a dependency is unavailable ({type(exc).__name__})",
            headers={"Retry-After": str(retry)},
            run_id=run_id,
        )
    logger.error("run %s of graph %s failed", run_id, name, exc_info=exc)
    return _error(
        500,
        "internal",
        f"internal error in run {run_id}; the server log has details",
        run_id=run_id,
    )


@contextlib.contextmanager
def _caller_trace(request: Request) -> Any:
    """Make the caller's W3C trace context current, so the run's span can continue it."""
    token = otel_context.attach(extract(dict(request.headers)))
    try:
        yield
    finally:
        otel_context.detach(token)


async def _prepare(request: Request) -> tuple[str, RunInput] | Response:
    """(graph name, validated input), or the 4xx answer: 404, 400/413, 422, before any slot."""
    name = request.path_params["name"]
    engine = _engine(request)
    try:
        engine.spec(name)
    except GraphError as exc:
        return _graph_error(exc)
    try:
        payload = await _read_input(request)
    except _BodyError as exc:
        return _error(exc.status, exc.code, exc.message)
    try:
        return name, engine.validate(name, payload)
    except GraphError as exc:
        return _graph_error(exc)


async def invoke(request: Request) -> Response:
    """``POST /graphs/{name}/invoke``: run to completion, answer the result."""
    prepared = await _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    name, payload = prepared
    state = request.app.state
    run_id = uuid.uuid4().hex
    try:
        async with asyncio.timeout(state.config.request_timeout_s) as deadline:
            async with state.limiter.slot():
                with state.in_flight.track(), _caller_trace(request):
                    result = await _engine(request).invoke(name, payload, run_id=run_id)
    except OverloadedError as exc:
        return _error(503, "overloaded", str(exc), headers={"Retry-After": str(exc.retry_after_s)})
    except GraphError as exc:
        return _graph_error(exc)
    except TimeoutError as exc:
        if deadline.expired():
            return _error(
                504,
                "timeout",
                f"run {run_id} did not finish within {state.config.request_timeout_s:g}s",
                run_id=run_id,
            )
        return _failure(exc, run_id, name)
    except Exception as exc:
        return _failure(exc, run_id, name)
    return JSON(result)


class _SlotStream(StreamingResponse):
    """A streaming response that releases its run slot however the response ends."""

    def __init__(self, content: AsyncGenerator[str, None], release: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._events = content
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A client that went away leaves the generator suspended at a `yield`:
            # close it now (not at garbage collection) so the run stops and is counted out.
            with contextlib.suppress(Exception):
                await self._events.aclose()
            self._release()


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=_default, ensure_ascii=False)}\n\n"


async def stream(request: Request) -> Response:
    """``POST /graphs/{name}/stream``: server-sent ``update`` events, then ``end``."""
    prepared = await _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    name, payload = prepared
    state = request.app.state
    try:
        await state.limiter.acquire()
    except OverloadedError as exc:
        return _error(503, "overloaded", str(exc), headers={"Retry-After": str(exc.retry_after_s)})
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            state.limiter.release()

    run_id = uuid.uuid4().hex
    carrier = dict(request.headers)

    async def events() -> AsyncGenerator[str, None]:
        # The body runs in the response's own task: attach the caller's context here.
        token = otel_context.attach(extract(carrier))
        state.in_flight.enter()
        timeout_s = state.config.request_timeout_s
        try:
            async with asyncio.timeout(timeout_s) as deadline:
                updates = _engine(request).stream(name, payload, run_id=run_id)
                try:
                    async for event in updates:
                        if event["event"] == "end":
                            yield _sse("end", event["result"])
                        else:
                            data = {k: v for k, v in event.items() if k != "event"}
                            yield _sse(event["event"], data)
                finally:  # stop the run now if the client went away mid-stream
                    aclose = getattr(updates, "aclose", None)
                    if aclose is not None:
                        await aclose()
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                message = f"run {run_id} did not finish within {timeout_s:g}s"
                yield _sse("error", {"error": "timeout", "run_id": run_id, "message": message})
            elif isinstance(exc, GraphError):  # refused by the engine after our checks
                yield _sse("error", json.loads(bytes(_graph_error(exc).body)))
            else:
                response = _failure(exc, run_id, name)
                yield _sse("error", json.loads(bytes(response.body)))
        finally:
            state.in_flight.leave()
            otel_context.detach(token)
            release()

    return _SlotStream(events(), release)


async def list_graphs(request: Request) -> Response:
    """``GET /graphs``: names, descriptions and input JSON Schemas."""
    engine = _engine(request)
    graphs = []
    for name in engine.graph_names():
        spec = engine.spec(name)
        graphs.append(
            {"name": name, "description": spec.description, "input_schema": spec.input_schema()}
        )
    return JSON({"graphs": graphs})


async def healthz(request: Request) -> Response:
    """``GET /healthz``: the process is alive; does no I/O."""
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    """``GET /readyz``: each dependency checked and named; 503 when a required one fails."""
    report = await readiness(_engine(request))
    return JSON(report, status_code=503 if report["status"] == "unready" else 200)


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text from the active telemetry configuration."""
    return Response(telemetry.prometheus_text(), media_type=telemetry.PROMETHEUS_CONTENT_TYPE)


async def stats(request: Request) -> Response:
    """``GET /stats``: the engine's figures plus the HTTP admission figures."""
    state = request.app.state
    figures = _engine(request).stats()
    figures["http"] = {**state.limiter.stats(), "in_flight": state.in_flight.count}
    figures["pid"] = os.getpid()  # which worker answered, under `serve --workers N`
    return JSON(figures)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``: the OpenAPI 3.1 document."""
    engine = _engine(request)
    return JSON(openapi_document(engine.spec(n) for n in engine.graph_names()))


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
                app.state.engine = await stack.enter_async_context(
                    Engine(
                        settings or Settings(),
                        registry=registry,
                        auto_seed=auto_seed,
                        configure_telemetry=True,
                        freeze_gc=(settings or Settings()).gc_freeze,
                    )
                )

            else:
                app.state.engine = engine
            try:
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

    routes = [
        Route("/graphs", list_graphs, methods=["GET"]),
        Route("/graphs/{name}/invoke", invoke, methods=["POST"]),
        Route("/graphs/{name}/stream", stream, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *dashboard_routes(),
        *sdk_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={Exception: _unhandled, 404: _not_found, 405: _not_allowed},
    )


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal", "internal error; the server log has details")


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "not_found", f"no route {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error(
        405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: Settings | None = None,
    *,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    **app_options: Any,
) -> None:
    """Serve the app with uvicorn until interrupted: one process, or `workers` processes.

    `app_options` go to `create_app` (limits, timeouts); the demo warehouse is seeded
    on first use unless ``auto_seed=False``. On SIGINT/SIGTERM uvicorn stops accepting
    connections, lets open requests finish, then runs the lifespan shutdown, which waits
    for in-flight runs before closing the engine.

    With ``workers > 1`` uvicorn supervises that many processes sharing the socket, each
    with its own Engine (the DuckDB file is opened read-only so they can share it; Redis,
    when configured, is the cache they share). Workers read their settings from
    ``SOPHIA_*`` variables, so `settings` and `app_options` must be left out; the demo
    data is seeded here, once, before they start. ``/stats`` answers for the worker that
    took the request (its ``pid`` says which).
    """
    import uvicorn

    if workers < 1:
        raise ConfigurationError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        options = {"auto_seed": True, **app_options}
        uvicorn.run(
            create_app(settings or Settings(), **options),
            host=host,
            port=port,
            workers=1,
            log_level=log_level,
            access_log=access_log,
        )
        return
    if settings is not None or app_options:
        raise ConfigurationError(
            "with workers > 1 each worker reads its settings from SOPHIA_* variables; "
            "pass neither settings nor app options"
        )
    asyncio.run(seed_if_missing(Settings(), progress=lambda m: logger.warning("%s", m)))
    uvicorn.run(
        "graphs.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )


def app_from_env() -> Starlette:
    """An app configured from ``SOPHIA_*`` variables (for ``uvicorn --factory``)."""
    return create_app(Settings(), auto_seed=True)
