"""The local trace viewer: a run's span tree from the JSON-lines file, drawn as a waterfall.

Each row is one span: its place in the tree, its duration, and a bar on a shared time
axis, so parallel branches show as overlapping bars. Failed spans are red and marked
``✗``; spans with a threshold breach event are marked ``⚠``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from telemetry.file_exporter import existing_trace_files

__all__ = ["TraceNotFoundError", "TraceView", "find_trace", "load_spans", "render_trace"]

logger = logging.getLogger(__name__)

BREACH_EVENT = "sophia.threshold_breach"


class TraceNotFoundError(LookupError):
    """No trace in the span file matches the run id or trace id (or the file has none)."""


@dataclass(frozen=True)
class TraceView:
    """What :func:`render_trace` drew: the trace, its run, and counts."""

    trace_id: str
    run_id: str | None
    root_name: str
    span_count: int
    error_count: int
    duration_ms: float


def load_spans(path: Path) -> list[dict[str, Any]]:
    """Every span record in ``path`` and its rotated backups, oldest file first.

    Lines that are not valid span records (e.g. cut by a crash) are skipped and counted
    in a debug log.
    """
    spans: list[dict[str, Any]] = []
    skipped = 0
    for file in existing_trace_files(Path(path)):
        with file.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    skipped += 1
                    continue
                if isinstance(record, dict) and record.get("trace_id") and record.get("span_id"):
                    spans.append(record)
                else:
                    skipped += 1
    if skipped:
        logger.debug("skipped %d malformed lines in %s", skipped, path)
    return spans


def _roots(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {s["span_id"] for s in spans}
    return [s for s in spans if s.get("parent_span_id") not in ids]


def _is_error(span: dict[str, Any]) -> bool:
    return bool((span.get("status") or {}).get("code") == "ERROR")


def find_trace(
    spans: Iterable[dict[str, Any]], run_or_trace_id: str | None = None
) -> list[dict[str, Any]]:
    """The spans of one trace: by run id (root attribute ``sophia.run_id``), trace id
    (or a unique prefix of at least 8 hex digits), or, with None, the last run in the file.

    Raises TraceNotFoundError naming what was looked for.
    """
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        by_trace[span["trace_id"]].append(span)
    if not by_trace:
        raise TraceNotFoundError("the span file holds no spans yet; run a graph first")

    def run_ids(trace_spans: list[dict[str, Any]]) -> set[str]:
        return {
            str(s["attributes"]["sophia.run_id"])
            for s in trace_spans
            if "sophia.run_id" in (s.get("attributes") or {})
        }

    if run_or_trace_id is None:
        runs = [t for t in by_trace.values() if run_ids(t)] or list(by_trace.values())
        return max(runs, key=lambda t: max(s.get("end_ns") or 0 for s in t))
    wanted = run_or_trace_id.strip().lower()
    for trace_spans in by_trace.values():
        if run_or_trace_id in run_ids(trace_spans):
            return trace_spans
    if wanted in by_trace:
        return by_trace[wanted]
    matches = [t for t in by_trace if len(wanted) >= 8 and t.startswith(wanted)]
    if len(matches) == 1:
        return by_trace[matches[0]]
    raise TraceNotFoundError(
        f"no run or trace {run_or_trace_id!r} in the span file"
        + (" (the prefix is ambiguous)" if len(matches) > 1 else "")
    )


def _bar(start: int, end: int, t0: int, total: int, width: int) -> tuple[int, int]:
    offset = min(width - 1, int((start - t0) * width / total))
    length = max(1, round((end - start) * width / total))
    return offset, min(length, width - offset)


def render_trace(
    path: Path,
    run_or_trace_id: str | None = None,
    console: Console | None = None,
    *,
    bar_width: int = 48,
) -> TraceView:
    """Draw the waterfall of one run (see :func:`find_trace` for the lookup) on ``console``.

    Raises TraceNotFoundError when the file is missing or holds no matching trace.
    """
    path = Path(path)
    if not existing_trace_files(path):
        raise TraceNotFoundError(f"no span file at {path}; is the file exporter on?")
    spans = find_trace(load_spans(path), run_or_trace_id)
    console = console or Console()

    for s in spans:
        s["end_ns"] = s.get("end_ns") or s.get("start_ns") or 0
        s["start_ns"] = s.get("start_ns") or s["end_ns"]
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    ids = {s["span_id"] for s in spans}
    for s in spans:
        parent = s.get("parent_span_id")
        children[parent if parent in ids else None].append(s)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s["start_ns"], s["name"]))

    t0 = min(s["start_ns"] for s in spans)
    t1 = max(s["end_ns"] for s in spans)
    total = max(t1 - t0, 1)
    roots = children[None]
    root = roots[0]
    run_id = next(
        (
            str(s["attributes"]["sophia.run_id"])
            for s in roots
            if "sophia.run_id" in (s.get("attributes") or {})
        ),
        None,
    )
    errors = sum(1 for s in spans if _is_error(s))

    rows: list[tuple[Text, str, dict[str, Any] | None, int]] = []

    def add(span: dict[str, Any], prefix: str, last: bool, depth: int) -> None:
        guide = "" if depth == 0 else ("└─ " if last else "├─ ")
        failed = _is_error(span)
        label = Text(prefix + guide, style="dim")
        label.append(("✗ " if failed else "") + span["name"], style="bold red" if failed else "")
        if any(e.get("name") == BREACH_EVENT for e in span.get("events") or []):
            label.append(" ⚠", style="yellow")
        rows.append((label, f"{(span['end_ns'] - span['start_ns']) / 1e6:.1f}", span, depth))
        kids = children.get(span["span_id"], [])
        child_prefix = prefix + ("" if depth == 0 else ("   " if last else "│  "))
        if failed:
            description = (span.get("status") or {}).get("description") or "error"
            note = Text(child_prefix + ("│  " if kids else "   "), style="dim")
            note.append(f"error: {description}", style="red")
            rows.append((note, "", None, depth))
        for i, kid in enumerate(kids):
            add(kid, child_prefix, i == len(kids) - 1, depth + 1)

    for i, r in enumerate(roots):
        add(r, "", i == len(roots) - 1, 0)

    name_width = min(max(len(label.plain) for label, _, _, _ in rows), 60)
    width = max(10, min(bar_width, console.width - name_width - 14))
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("span", no_wrap=True, max_width=name_width, overflow="ellipsis")
    table.add_column("ms", justify="right", no_wrap=True, min_width=7)
    table.add_column(f"0 … {total / 1e6:.1f} ms", no_wrap=True, width=width)
    for label, ms, span, depth in rows:
        if span is None:
            table.add_row(label, ms, "")
            continue
        failed = _is_error(span)
        offset, length = _bar(span["start_ns"], span["end_ns"], t0, total, width)
        bar = Text(" " * offset)
        bar.append("█" * length, style="red" if failed else ("cyan" if depth % 2 else "green"))
        table.add_row(label, ms, bar)

    header = Text(f"trace {root['trace_id']}", style="bold")
    if run_id:
        header.append(f"  run {run_id}")
    header.append(f"  {root.get('service_name') or ''}  {len(spans)} spans")
    if errors:
        header.append(f"  {errors} failed", style="bold red")
    console.print(header)
    console.print(table)
    return TraceView(
        trace_id=root["trace_id"],
        run_id=run_id,
        root_name=root["name"],
        span_count=len(spans),
        error_count=errors,
        duration_ms=total / 1e6,
    )
