"""The operations routes: ``/healthz``, ``/readyz``, ``/metrics``, ``/stats`` and
``/openapi.json``."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

import telemetry
from graphs.engine.engine import Engine
from graphs.server import models
from graphs.server.caller import SCOPE_KEY, Caller
from graphs.server.encoding import JSON
from graphs.server.health import readiness
from graphs.server.openapi import Answer, ApiRoute, Operation, openapi_document


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def healthz(request: Request) -> Response:
    """``GET /healthz``: the process is alive; does no I/O."""
    return JSON(models.Health(status="ok"))


async def readyz(request: Request) -> Response:
    """``GET /readyz``: each dependency checked and named; 503 when a required one fails.

    Public, for load balancers and kubelets, which send no credentials; an unauthenticated
    caller sees whether each check passed, not the errors, backends and latencies
    (which may name hosts): those need a key.
    """
    report = await readiness(_engine(request))
    if not isinstance(request.scope.get(SCOPE_KEY), Caller):
        report["checks"] = {name: {"ok": check["ok"], "required": check["required"]}
                            for name, check in report["checks"].items()}  # fmt: skip
    return JSON(report, status_code=503 if report["status"] == "unready" else 200)


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text from the active telemetry configuration."""
    return Response(telemetry.prometheus_text(), media_type=telemetry.PROMETHEUS_CONTENT_TYPE)


async def stats(request: Request) -> Response:
    """``GET /stats``: the engine's figures plus the HTTP admission figures."""
    state = request.app.state
    figures = _engine(request).stats()
    figures["http"] = {**state.limiter.stats(), "in_flight": state.in_flight.count,
                       "quotas": state.admission.quotas.stats()}  # fmt: skip
    figures["pid"] = os.getpid()  # which worker answered, under `serve --workers N`
    return JSON(figures)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``: the OpenAPI 3.1 document of every mounted route.

    Built on first use and kept: the routes and graphs do not change while serving.
    """
    state = request.app.state
    document = getattr(state, "openapi_document", None)
    if document is None:
        engine = _engine(request)
        document = openapi_document(request.app.routes, map(engine.spec, engine.graph_names()))
        state.openapi_document = document
    return JSON(document)


def ops_routes() -> list[BaseRoute]:
    """The operations routes (the app keeps the engine and its limits in ``app.state``)."""
    return [
        ApiRoute("/healthz", healthz, method="GET", operation=Operation(
            "healthz", "Liveness (no I/O)", "operations",
            {200: Answer("The process is alive.", models.Health)}, access="public",
        )),
        ApiRoute("/readyz", readyz, method="GET", operation=Operation(
            "readyz", "Readiness: warehouse, Redis and memory store checked (details with "
            "credentials only)", "operations",
            {200: Answer("Ready (maybe degraded).", models.Readiness),
             503: Answer("A required check failed.", models.Readiness)}, access="public",
        )),
        ApiRoute("/metrics", metrics, method="GET", operation=Operation(
            "metrics", "Prometheus metrics", "operations",
            {200: Answer("Prometheus text exposition format.", text=("text/plain",))},
        )),
        ApiRoute("/stats", stats, method="GET", operation=Operation(
            "stats", "Pool, cache, breaker, monitor and admission figures", "operations",
            {200: Answer("The engine's figures.", models.Stats)},
        )),
        ApiRoute("/openapi.json", openapi, method="GET", operation=Operation(
            "openapi", "This document", "operations",
            {200: Answer("The OpenAPI document.", models.OpenApiDocument)},
        )),
    ]  # fmt: skip
