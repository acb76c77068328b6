"""The in-memory capture the telemetry tests share (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry


@dataclass
class Captured:
    """A live configuration and what it exported so far."""

    telemetry: telemetry.Telemetry
    spans_exporter: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def by_name(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.by_name(name)
        assert len(found) == 1, f"expected one span {name!r}, got {len(found)}"
        return found[0]
