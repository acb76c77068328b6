"""The one reader of the local span file (``traces.jsonl`` and its rotated backups).

The terminal viewer (`telemetry.viewer`, ``sophia trace``) and the dashboard's waterfall
route both read spans through here. Each line is one span record (the format is in
`telemetry.file_exporter`); lines that are not span records (e.g. cut by a crash) are
skipped. Blocking file I/O: from async code, call these in a thread.

    spans = trace_spans(path, trace_id)        # one trace, by its exact id (fast)
    spans = load_trace(path, "run-or-trace")   # by run id, trace id or prefix; None: last run
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from telemetry.errors import SophiaError
from telemetry.file_exporter import existing_trace_files
from telemetry.monitor_registry import BREACH_EVENT
from telemetry.tally import STATEMENT_EVENT

__all__ = [
    "BREACH_EVENT",
    "TraceNotFoundError",
    "find_trace",
    "has_breach",
    "is_error",
    "load_spans",
    "load_trace",
    "statement_rows",
    "trace_spans",
]

logger = logging.getLogger(__name__)

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

Span = dict[str, Any]


class TraceNotFoundError(SophiaError, LookupError):
    """No trace in the span file matches the run id or trace id (or there is no file)."""


def is_error(span: Span) -> bool:
    """Whether the span ended with status ERROR."""
    return bool((span.get("status") or {}).get("code") == "ERROR")


def has_breach(span: Span) -> bool:
    """Whether the span carries a threshold breach event."""
    return any(e.get("name") == BREACH_EVENT for e in span.get("events") or [])


def _files(path: Path) -> list[Path]:
    files = existing_trace_files(Path(path))
    if not files:
        raise TraceNotFoundError(f"no span file at {path}; is the file exporter on?")
    return files


def _records(files: Iterable[Path], needle: str | None) -> Iterator[Span]:
    """Span records of `files`, oldest first; with `needle`, only lines that mention it."""
    skipped = 0
    for file in files:
        with file.open(encoding="utf-8") as fh:
            for line in fh:
                if needle is not None and needle not in line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    skipped += 1
                    continue
                if isinstance(record, dict) and record.get("trace_id") and record.get("span_id"):
                    yield record
                else:
                    skipped += 1
    if skipped:
        logger.debug("skipped %d lines that are not span records", skipped)


def _by_start(spans: list[Span]) -> list[Span]:
    return sorted(spans, key=lambda s: int(s.get("start_ns") or 0))


def load_spans(path: Path) -> list[Span]:
    """Every span record in `path` and its rotated backups, oldest file first.

    TraceNotFoundError when there is no span file.
    """
    return list(_records(_files(path), None))


def trace_spans(path: Path, trace_id: str) -> list[Span]:
    """The spans of the trace `trace_id` (32 hex digits), sorted by start time.

    Parses only the lines that mention the id, so the cost is one sequential read of a
    file that rotation keeps bounded. TraceNotFoundError when no span of it is there.
    """
    spans = [s for s in _records(_files(path), trace_id) if s["trace_id"] == trace_id]
    if not spans:
        raise TraceNotFoundError(f"trace {trace_id} is not in the span file")
    return _by_start(spans)


def _run_ids(spans: list[Span]) -> set[str]:
    return {
        str(s["attributes"]["sophia.run_id"])
        for s in spans
        if "sophia.run_id" in (s.get("attributes") or {})
    }


def find_trace(spans: Iterable[Span], run_or_trace_id: str | None = None) -> list[Span]:
    """The spans of one trace among `spans`: by run id (root attribute ``sophia.run_id``),
    trace id (or a unique prefix of at least 8 hex digits), or, with None, the last run.

    Raises TraceNotFoundError naming what was looked for.
    """
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span["trace_id"]].append(span)
    if not by_trace:
        raise TraceNotFoundError("the span file holds no spans yet; run a graph first")
    if run_or_trace_id is None:
        runs = [t for t in by_trace.values() if _run_ids(t)] or list(by_trace.values())
        return max(runs, key=lambda t: max(s.get("end_ns") or 0 for s in t))
    wanted = run_or_trace_id.strip().lower()
    for candidate in by_trace.values():
        if run_or_trace_id in _run_ids(candidate):
            return candidate
    if wanted in by_trace:
        return by_trace[wanted]
    matches = [t for t in by_trace if len(wanted) >= 8 and t.startswith(wanted)]
    if len(matches) == 1:
        return by_trace[matches[0]]
    raise TraceNotFoundError(
        f"no run or trace {run_or_trace_id!r} in the span file"
        + (" (the prefix is ambiguous)" if len(matches) > 1 else "")
    )


def load_trace(path: Path, run_or_trace_id: str | None = None) -> list[Span]:
    """The spans of one trace in `path` (see `find_trace`), sorted by start time.

    A full trace id is looked up the fast way (`trace_spans`) first.
    """
    wanted = (run_or_trace_id or "").strip().lower()
    if _TRACE_ID.match(wanted):
        try:
            return trace_spans(path, wanted)
        except TraceNotFoundError:
            pass  # a run id looks the same: look through every span
    return _by_start(find_trace(load_spans(path), run_or_trace_id))


def statement_rows(spans: list[Span]) -> list[Span]:
    """A node's statements (``db.query`` events of its span, `telemetry.tally`) as records
    shaped like spans, children of that span: a waterfall draws them as their spans were."""
    rows = []
    for span in spans:
        for i, event in enumerate(span.get("events") or []):
            if event.get("name") != STATEMENT_EVENT:
                continue
            attributes = event.get("attributes") or {}
            start = int(event.get("time_ns") or span.get("start_ns") or 0)
            operation = str(attributes.get("db.query.text") or "").upper().split(None, 1)[:1]
            table = attributes.get("db.collection.name")
            name = " ".join(operation + ([str(table)] if table else []))
            failed = attributes.get("error.type")
            rows.append({
                "span_id": f"{span['span_id']}/{i}", "parent_span_id": span["span_id"],
                "name": name or "statement", "start_ns": start,
                "end_ns": start + int(float(attributes.get("sophia.duration_ms") or 0) * 1e6),
                "status": {"code": "ERROR", "description": failed} if failed else {},
                "trace_id": span.get("trace_id"), "attributes": attributes, "events": [],
            })  # fmt: skip
    return rows
