"""One trace's spans as the dashboard's waterfall draws them, read from the local span file.

The reading is `telemetry.trace_file`'s (the one reader, shared with ``sophia trace``);
this module only shapes each span into a row: times relative to the trace's first span,
status, error, threshold breach, attributes cut to a readable length. A node's own
statements, events of its span (`telemetry.tally`), are rows under it as spans are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from telemetry.setup import Telemetry
from telemetry.trace_file import has_breach, statement_rows, trace_spans

__all__ = ["MAX_SPANS", "SpanRow", "TracePage", "waterfall"]

MAX_SPANS = 2_000
"""At most this many spans of one trace are returned (the earliest-starting ones)."""
_MAX_ATTR_CHARS = 200


class SpanRow(BaseModel):
    """One span of the waterfall."""

    span_id: str
    parent_span_id: str | None
    name: str
    start_ms: float = Field(description="From the start of the trace's first span.")
    duration_ms: float
    status: str = Field(description="UNSET, OK or ERROR.")
    error: str | None
    breach: bool = Field(description="The span exceeded its monitor threshold.")
    attributes: dict[str, Any]


class TracePage(BaseModel):
    """``GET /dashboard/traces/{trace_id}``: the trace's spans, by start time."""

    trace_id: str
    spans: list[SpanRow]


def _attr(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_ATTR_CHARS:
        return value[:_MAX_ATTR_CHARS] + "…"
    return value


def _row(span: dict[str, Any], t0: int) -> dict[str, Any]:
    start = int(span.get("start_ns") or t0)
    end = int(span.get("end_ns") or start)
    status = span.get("status") or {}
    return {
        "span_id": span.get("span_id"),
        "parent_span_id": span.get("parent_span_id"),
        "name": span.get("name"),
        "start_ms": (start - t0) / 1e6,
        "duration_ms": max(0, end - start) / 1e6,
        "status": status.get("code") or "UNSET",
        "error": status.get("description"),
        "breach": has_breach(span),
        "attributes": {k: _attr(v) for k, v in (span.get("attributes") or {}).items()},
    }


def waterfall(
    path: Path, trace_id: str, active: Telemetry | None = None, flush_ms: int = 2_000
) -> dict[str, Any]:
    """The `TracePage` of `trace_id` in the span file at `path`, JSON-ready.

    `active`'s buffered spans are flushed first (waiting at most `flush_ms`) so a run
    that just ended is found. TraceNotFoundError when the trace is not in the file.
    Blocking: call it in a thread.
    """
    if active is not None:
        active.force_flush(flush_ms)
    spans = trace_spans(path, trace_id)[:MAX_SPANS]
    t0 = int(spans[0].get("start_ns") or 0)
    rows = spans + statement_rows(spans)  # a node's statements, events of its span
    return {"trace_id": trace_id, "spans": [_row(s, t0) for s in rows[:MAX_SPANS]]}
