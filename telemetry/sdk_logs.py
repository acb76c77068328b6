"""Quieting the OpenTelemetry SDK's own log lines that a person cannot act on.

`ExporterLogs` turns the OTLP exporters' per-retry, per-batch lines about an unreachable
collector into one warning naming the endpoint and what to do; `quiet_final_collect` drops
the warning a periodic metric reader logs when it is detached after its last flush.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("telemetry.setup")


class ExporterLogs(logging.Filter):
    """The OTLP exporters' own log lines, turned into one warning per configuration.

    An unreachable collector makes the exporters log a line per retry and per batch (a
    dozen per run). While attached, the first of them becomes one line naming the
    endpoint and what to do; the rest are dropped.
    """

    LOGGERS = (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.exporter.otlp.proto.http.metric_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.exporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
        "opentelemetry.sdk._shared_internal",
    )

    def __init__(self, endpoint: str | None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.dropped = 0
        self.reported = False
        self.errors = 0
        """Warning-level lines the exporters logged while attached (each a failed export)."""

    def attach(self) -> None:
        """Filter the exporters' loggers; replaces the filter of an earlier configuration
        whose exporters were abandoned (it would drop the lines before this one sees them)."""
        for name in self.LOGGERS:
            exporter_logger = logging.getLogger(name)
            for earlier in [f for f in exporter_logger.filters if isinstance(f, ExporterLogs)]:
                exporter_logger.removeFilter(earlier)
            exporter_logger.addFilter(self)

    def detach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        self.errors += 1
        if self.reported:
            self.dropped += 1
            return False
        self.reported = True
        cause = _first_line(record.getMessage())
        record.name, record.levelno, record.levelname = logger.name, logging.WARNING, "WARNING"
        record.msg = (
            "cannot export telemetry to the OTLP endpoint %s (%s); spans and metrics are "
            "dropped while it does not answer: start the collector (Jaeger) or unset "
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        record.args = (self.endpoint, cause)
        return True


_CAUSES = ("Connection refused", "Name or service not known", "timed out", "Connection reset")


def _first_line(message: str, limit: int = 100) -> str:
    """The gist of an exporter's error: a known cause, else its first line, shortened."""
    for cause in _CAUSES:
        if cause.lower() in message.lower():
            return cause.lower()
    line = message.splitlines()[0] if message else "no answer"
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _DropFinalCollectWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Cannot call collect on a MetricReader" not in record.getMessage()


@contextmanager
def quiet_final_collect() -> Iterator[None]:
    """Removing a periodic reader makes its thread try one last collect after it was
    detached, which the SDK logs as a warning; we flushed just before, so drop it."""
    sdk_logger = logging.getLogger("opentelemetry.sdk.metrics._internal.export")
    quiet = _DropFinalCollectWarning()
    sdk_logger.addFilter(quiet)
    try:
        yield
    finally:
        sdk_logger.removeFilter(quiet)


