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

from typing import TYPE_CHECKING

from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from telemetry.errors import SophiaError
    from telemetry.file_exporter import trace_file_path
    from telemetry.monitoring import (
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
    from telemetry.viewer import render_trace

# Everything is imported on first use: the SDK and the exporters cost most of a second,
# and `telemetry.errors` (the root error every package derives from) must stay cheap.
_SOURCES = {
    "SophiaError": "telemetry.errors",
    "trace_file_path": "telemetry.file_exporter",
    **dict.fromkeys(
        ("DEFAULT_THRESHOLDS_MS", "Monitor", "Monitored", "current_monitor", "monitor",
         "use_monitor"),
        "telemetry.monitoring",
    ),
    **dict.fromkeys(
        ("PROMETHEUS_CONTENT_TYPE", "Telemetry", "active_telemetry", "configure",
         "prometheus_text", "shutdown"),
        "telemetry.setup",
    ),
    **dict.fromkeys(
        ("client_span", "current_trace_id", "iterate_in_span", "node_span", "run_span",
         "shared_links", "shared_work"),
        "telemetry.spans",
    ),
    "TraceNotFoundError": "telemetry.trace_file",
    "render_trace": "telemetry.viewer",
}

__getattr__ = lazy_exports(__name__, _SOURCES)


__all__ = [
    "DEFAULT_THRESHOLDS_MS",
    "PROMETHEUS_CONTENT_TYPE",
    "Monitor",
    "Monitored",
    "SophiaError",
    "Telemetry",
    "TraceNotFoundError",
    "active_telemetry",
    "client_span",
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
