"""One trace's spans from the local span file, compacted for the dashboard's waterfall.

Reads the JSON-lines file the telemetry package writes (``traces.jsonl`` and its rotated
backups) line by line, parsing only the lines that mention the trace id, so the cost is
one sequential read of a file that rotation keeps bounded. Blocking: call it in a thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stores.errors import SophiaError
from telemetry.file_exporter import existing_trace_files
from telemetry.setup import Telemetry

__all__ = ["MAX_SPANS", "TraceSpansError", "read_trace"]

MAX_SPANS = 2_000
"""At most this many spans of one trace are returned (the earliest-starting ones)."""
_MAX_ATTR_CHARS = 200
_BREACH_EVENT = "sophia.threshold_breach"


class TraceSpansError(SophiaError, LookupError):
    """The trace is not in the local span file (or the file does not exist)."""


def _attr(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_ATTR_CHARS:
        return value[:_MAX_ATTR_CHARS] + "…"
    return value


def _compact(span: dict[str, Any], t0: int) -> dict[str, Any]:
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
        "breach": any(e.get("name") == _BREACH_EVENT for e in span.get("events") or []),
        "attributes": {k: _attr(v) for k, v in (span.get("attributes") or {}).items()},
    }


def read_trace(
    path: Path, trace_id: str, active: Telemetry | None = None, flush_ms: int = 2_000
) -> list[dict[str, Any]]:
    """The spans of ``trace_id`` in ``path`` (and its backups), sorted by start time.

    Each: span_id, parent_span_id, name, start_ms (from the trace's first span),
    duration_ms, status (UNSET/OK/ERROR), error, breach (a threshold breach event),
    attributes. ``active``'s buffered spans are flushed first (waiting at most
    ``flush_ms``) so a run that just ended is found. Raises TraceSpansError when no
    span of the trace is in the file.
    """
    if active is not None:
        active.force_flush(flush_ms)
    needle = f'"trace_id": "{trace_id}"'
    needle_compact = f'"trace_id":"{trace_id}"'
    raw: list[dict[str, Any]] = []
    files = existing_trace_files(Path(path))
    if not files:
        raise TraceSpansError(f"no span file at {path}: run a graph with the trace file on")
    for file in files:
        with file.open(encoding="utf-8") as fh:
            for line in fh:
                if needle not in line and needle_compact not in line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and record.get("trace_id") == trace_id:
                    raw.append(record)
    if not raw:
        raise TraceSpansError(f"trace {trace_id} is not in the span file {path}")
    raw.sort(key=lambda s: int(s.get("start_ns") or 0))
    raw = raw[:MAX_SPANS]
    t0 = int(raw[0].get("start_ns") or 0)
    return [_compact(s, t0) for s in raw]
