"""Tracing, metrics and the performance monitor of the Sophia engine.

* :func:`configure` / :func:`shutdown` / :class:`Telemetry`: the OpenTelemetry SDK (OTLP
  over HTTP or gRPC, a local JSON-lines span file, console, Prometheus text).
* :func:`run_span`, :func:`node_span`, :func:`current_trace_id`, :func:`iterate_in_span`:
  the spans of a run (``iterate_in_span`` for streamed runs).
* :func:`monitor`, :class:`Monitor`, :func:`use_monitor`: durations, percentiles and
  threshold alerts, recorded in the current owner's `Monitor`.
* :func:`render_trace`: the local waterfall viewer behind ``sophia trace``; it and the
  dashboard read the span file through `telemetry.trace_file`.
* :class:`SophiaError`: the root of every error the engine raises on purpose.

Importing this package does no I/O and installs nothing; :func:`configure` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telemetry.errors import SophiaError
from telemetry.file_exporter import trace_file_path
from telemetry.monitor import (
    DEFAULT_THRESHOLDS_MS,
    Monitor,
    Monitored,
    current_monitor,
    monitor,
    use_monitor,
)
from telemetry.setup import (
    PROMETHEUS_CONTENT_TYPE,
    Telemetry,
    active_telemetry,
    configure,
    prometheus_text,
    shutdown,
)
from telemetry.spans import (
    current_trace_id,
    iterate_in_span,
    node_span,
    run_span,
    shared_links,
    shared_work,
)
from telemetry.trace_file import TraceNotFoundError

if TYPE_CHECKING:
    from telemetry.viewer import render_trace

_LAZY = {"render_trace"}


def __getattr__(name: str) -> Any:
    # The viewer needs rich; import it only when the CLI asks for it.
    if name in _LAZY:
        from telemetry import viewer

        return getattr(viewer, name)
    raise AttributeError(f"module 'telemetry' has no attribute {name!r}")


__all__ = [
    "DEFAULT_THRESHOLDS_MS",
    "PROMETHEUS_CONTENT_TYPE",
    "Monitor",
    "Monitored",
    "SophiaError",
    "Telemetry",
    "TraceNotFoundError",
    "active_telemetry",
    "configure",
    "current_monitor",
    "current_trace_id",
    "iterate_in_span",
    "monitor",
    "node_span",
    "prometheus_text",
    "render_trace",
    "run_span",
    "shared_links",
    "shared_work",
    "shutdown",
    "trace_file_path",
    "use_monitor",
]
