"""The performance dashboard: ``GET /dashboard`` (the page) and the JSON behind it.

``dashboard_routes()`` gives the Starlette routes to mount on the HTTP service:

* ``GET /dashboard``: the self-contained page (HTML, JS and CSS from ``graphs/static``;
  no CDN), which polls ``/dashboard/data`` every 1.5 s and draws plain SVG charts;
* ``GET /dashboard/data``: :func:`dashboard_data` as JSON (schema: ``docs/dashboard.md``);
* ``GET /dashboard/traces/{trace_id}``: one run's spans from the local span file, for
  the waterfall the page draws when no Jaeger endpoint is configured;
* ``/dashboard/login`` and ``/dashboard/logout``: signing in with an API key
  (`graphs.server.dashboard.login`), which the page needs when authentication is on.

The routes read the open engine from ``request.app.state.engine`` (as the HTTP app
keeps it) and the run log from the engine's own `RunsLog` (``engine.runs_log``).
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute

import telemetry
from graphs.engine.runs_log import RunsLog
from graphs.server.dashboard.login import login_routes, to_login
from graphs.server.dashboard.waterfall import TracePage, waterfall
from graphs.server.encoding import JSON, encode, finite
from graphs.server.errors import HttpError
from graphs.server.models import ErrorBody
from graphs.server.openapi import Answer, ApiRoute, Operation

if TYPE_CHECKING:
    from graphs.engine.engine import Engine

__all__ = [
    "CACHE_HIT_TARGET",
    "GROUPS",
    "POOL_UTILISATION_TARGET",
    "SCHEMA",
    "dashboard_data",
    "dashboard_routes",
    "monitor_figures",
]

SCHEMA = "sophia.dashboard/1"
POOL_UTILISATION_TARGET = 0.80
"""Pool utilisation (in use / max size) should stay below this under normal load."""
CACHE_HIT_TARGET = 0.85
"""Cache hit ratio each namespace should reach."""
SERIES_POINTS = 60
"""Per-interval points per operation sent to the page (the monitor keeps more)."""
SHARED_FOR_S = 1.0
"""``/dashboard/data`` answers computed less than this long ago are reused, so that
several open pages cost the service no more than one."""

GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("warehouse", "Warehouse query", ("database_query",)),
    ("cache", "Cache get", ("cache",)),
    ("memory", "Memory search", ("vector_search",)),
    ("agent", "Agent node", ("agent",)),
    ("run", "Whole run", ("run",)),
)
"""Chart groups of the page: (id, label, monitor kinds); other kinds go to ``other``."""

STATIC_DIR = Path(__file__).parent / "static"
_STATIC_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


class DashboardData(BaseModel):
    """``GET /dashboard/data``: every figure the page shows (docs/dashboard.md)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_: str = Field(alias="schema", description=f"Always {SCHEMA!r}.")
    generated_at: float
    targets: dict[str, Any]
    groups: list[dict[str, Any]]
    operations: list[dict[str, Any]]
    warehouse: dict[str, Any]
    cache: dict[str, Any] | None
    breakers: list[dict[str, Any]]
    runs: dict[str, Any]
    tracing: dict[str, Any]


def _group_of(kind: str | None) -> str:
    for group_id, _, kinds in GROUPS:
        if kind in kinds:
            return group_id
    return "other"


def monitor_figures(
    monitor: telemetry.Monitor, series_points: int = SERIES_POINTS
) -> list[dict[str, Any]]:
    """Per monitored operation: its window summary, chart group and last per-interval points.

    The expensive part of the dashboard (it sorts each window's samples); thread-safe
    (the monitor holds its lock), so the route computes it off the event loop.
    """
    snapshot = monitor.snapshot()
    series = monitor.series()
    return [
        {
            "operation": name,
            "group": _group_of(summary.get("kind")),
            **summary,
            "series": series.get(name, [])[-series_points:],
        }
        for name, summary in snapshot.items()
    ]


def _warehouse(stats: dict[str, Any]) -> dict[str, Any]:
    max_size = stats.get("max_size") or 0
    utilisation = stats.get("in_use", 0) / max_size if max_size else 0.0
    return {
        **stats,
        "utilisation": utilisation,
        "utilisation_target": POOL_UTILISATION_TARGET,
        "utilisation_ok": utilisation < POOL_UTILISATION_TARGET,
    }


def _cache(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    namespaces = []
    for name, ns in sorted((stats.get("namespaces") or {}).items()):
        requests = ns.get("requests", 0)
        namespaces.append(
            {
                "namespace": name,
                "requests": requests,
                "hit_ratio": ns.get("hit_ratio", 0.0),
                "l1_hit_ratio": (ns.get("l1") or {}).get("hit_ratio", 0.0),
                "l2_hit_ratio": (ns.get("l2") or {}).get("hit_ratio", 0.0),
                "l1_hits": (ns.get("l1") or {}).get("hits", 0),
                "l2_hits": (ns.get("l2") or {}).get("hits", 0),
                "misses": ns.get("misses", 0),
                "evictions": ns.get("evictions", 0),
                "latency_ms": ns.get("latency_ms") or {},
                "meets_target": bool(requests) and ns.get("hit_ratio", 0.0) >= CACHE_HIT_TARGET,
            }
        )
    return {
        "hit_ratio_target": CACHE_HIT_TARGET,
        "namespaces": namespaces,
        "l1": stats.get("l1") or {},
        "redis": stats.get("redis") or {},
        "evictions": (stats.get("l1") or {}).get("evictions", 0),
    }


def _breakers(stats: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, guard in sorted(stats.items()):
        b = guard.get("breaker") or {}
        out.append(
            {
                "name": name,
                "state": b.get("state", "unknown"),
                "state_changed_at": b.get("state_changed_at"),
                "state_changed_ago_s": b.get("state_changed_ago_s"),
                "failure_rate": b.get("failure_rate", 0.0),
                "retry_after_s": b.get("retry_after_s", 0.0),
                "calls": b.get("calls", 0),
                "failures": b.get("failures", 0),
                "rejections": b.get("rejections", 0),
                "retries": guard.get("retries", 0),
                "timeouts": guard.get("timeouts", 0),
            }
        )
    return out


def _runs(log: RunsLog, limit: int) -> dict[str, Any]:
    active = telemetry.active_telemetry()
    recent = []
    for record in log.recent(limit):
        item = record.as_dict()
        jaeger = active.jaeger_url(record.trace_id) if active and record.trace_id else None
        item["trace_url"] = jaeger or (
            f"/dashboard/traces/{record.trace_id}" if record.trace_id else None
        )
        item["trace_link"] = "jaeger" if jaeger else ("local" if record.trace_id else None)
        recent.append(item)
    return {"totals": log.totals(), "recent": recent, "capacity": log.max_runs}


def dashboard_data(
    engine: Engine,
    *,
    runs: RunsLog | None = None,
    run_limit: int = 50,
    series_points: int = SERIES_POINTS,
    operations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every figure the dashboard shows, JSON-ready (no NaN), in schema ``SCHEMA``.

    Keys: ``schema``, ``generated_at``, ``targets``, ``groups``, ``operations``,
    ``warehouse``, ``cache``, ``breakers``, ``runs``, ``tracing`` (see docs/dashboard.md).
    `engine` must be open. Reads in-process counters only: no I/O. `operations`, when
    given, is a :func:`monitor_figures` result computed elsewhere (e.g. in a thread).
    Call it on the engine's event loop: the pool and cache counters are not locked.
    """
    r = engine.resources  # the same sources as engine.stats(), minus its monitor summary
    active = telemetry.active_telemetry()
    data = {
        "schema": SCHEMA,
        "generated_at": time.time(),
        "targets": {
            "pool_utilisation": POOL_UTILISATION_TARGET,
            "cache_hit_ratio": CACHE_HIT_TARGET,
            "thresholds_ms": dict(telemetry.DEFAULT_THRESHOLDS_MS),
        },
        "groups": [{"id": g, "label": label, "kinds": list(k)} for g, label, k in GROUPS]
        + [{"id": "other", "label": "Other", "kinds": []}],
        "operations": operations
        if operations is not None
        else monitor_figures(engine.monitor, series_points),
        "warehouse": _warehouse(r.warehouse.stats()),
        "cache": _cache(r.cache.stats() if r.cache else None),
        "breakers": _breakers(engine.guards.stats() if engine.guards else {}),
        "runs": _runs(runs if runs is not None else engine.runs_log, run_limit),
        "tracing": {
            "jaeger": bool(active and active.otlp_endpoint),
            "trace_file": bool(active and active.trace_file),
        },
    }
    figures: dict[str, Any] = finite(data)
    return figures


_NO_STORE = {"Cache-Control": "no-store"}


async def page(request: Request) -> Response:
    """``GET /dashboard``: the HTML page."""
    return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html; charset=utf-8")


async def static_file(request: Request) -> Response:
    """``GET /dashboard/static/{name}``: the page's script and stylesheet (allow-listed)."""
    name = request.path_params["name"]
    media_type = _STATIC_FILES.get(name)
    if media_type is None:
        return HttpError(404, "not_found", f"no file {name}").response()
    return FileResponse(STATIC_DIR / name, media_type=media_type)


async def data(request: Request) -> Response:
    """``GET /dashboard/data``: :func:`dashboard_data` of the app's engine."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        return HttpError(503, "unavailable", "the engine is not open yet").response()
    state = request.app.state
    cached: tuple[float, bytes] | None = getattr(state, "dashboard_cache", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < SHARED_FOR_S:
        return Response(cached[1], media_type="application/json", headers=_NO_STORE)
    # Sorting the monitor's windows is the costly part: do it off the event loop so
    # runs in flight are not held up; the rest reads counters owned by the loop.
    operations = await asyncio.to_thread(monitor_figures, engine.monitor)
    figures = dashboard_data(engine, operations=operations)
    limiter = getattr(state, "limiter", None)
    if limiter is not None and hasattr(limiter, "stats"):
        in_flight = getattr(state, "in_flight", None)
        figures["http"] = {**limiter.stats(), "in_flight": getattr(in_flight, "count", None)}
    figures["queue"] = queue_figures(getattr(state, "sdk_runs", None))
    body = encode(figures)
    state.dashboard_cache = (now, body)
    return Response(body, media_type="application/json", headers=_NO_STORE)


def queue_figures(runs: Any) -> dict[str, Any]:
    """Where the LangGraph API's runs execute and, on workers, how many wait and for how
    long the oldest has (the queue's last reading, as on /metrics)."""
    remote = getattr(runs, "remote", None)
    sampler = getattr(remote, "sampler", None)
    if sampler is None:
        return {"mode": "in-process"}
    return {"mode": "workers", "depth": sampler.depth, "oldest_age_s": sampler.oldest_age_s}


async def trace(request: Request) -> Response:
    """``GET /dashboard/traces/{trace_id}``: the trace's spans from the local span file."""
    trace_id = request.path_params["trace_id"].lower()
    if not _TRACE_ID.match(trace_id):
        return HttpError(400, "bad_request", "a trace id is 32 hex digits").response()
    active = telemetry.active_telemetry()
    path = active.trace_file if active is not None else None
    if path is None:
        message = "the local span file is off (SOPHIA_TRACE_FILE)"
        return HttpError(404, "unavailable", message).response()
    try:
        page = await asyncio.to_thread(waterfall, path, trace_id, active)
    except telemetry.TraceNotFoundError:  # its text may name the file: answer our own
        message = f"trace {trace_id} is not in the span file"
        return HttpError(404, "not_found", message).response()
    return JSON(page, headers=_NO_STORE)


def dashboard_routes() -> list[BaseRoute]:
    """The dashboard's routes, to append to the HTTP app's (the app must keep the open
    engine in ``app.state.engine``)."""
    tag = "dashboard"
    return [
        ApiRoute("/dashboard", page, method="GET", operation=Operation(
            "dashboard", "The live dashboard page", tag,
            {200: Answer("HTML.", text=("text/html",)),
             303: Answer("Not signed in: to the sign-in form.", headers=("Location",))},
        ), unauthenticated=to_login),
        ApiRoute("/dashboard/data", data, method="GET", operation=Operation(
            "dashboard_data", "What the page polls", tag,
            {200: Answer("Series, percentiles and resource state.", DashboardData),
             503: Answer("The engine is not open yet.", ErrorBody)},
        )),
        ApiRoute("/dashboard/static/{name}", static_file, method="GET", operation=Operation(
            "dashboard_static", "The page's script and stylesheet", tag,
            {200: Answer("The file.", text=("text/javascript", "text/css")),
             404: Answer("Not one of the page's files.", ErrorBody)}, access="public",
        )),
        ApiRoute("/dashboard/traces/{trace_id}", trace, method="GET", operation=Operation(
            "dashboard_trace", "One trace's spans", tag,
            {200: Answer("The trace id and its spans.", TracePage),
             400: Answer("Not a trace id (32 hex digits).", ErrorBody),
             404: Answer("No such trace in the local span file.", ErrorBody)},
        )),
        *login_routes(),
    ]  # fmt: skip
