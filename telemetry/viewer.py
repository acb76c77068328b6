"""The local trace viewer: a run's span tree from the JSON-lines file, drawn as a waterfall.

Each row is one span: its place in the tree, its duration, and a bar on a shared time
axis, so parallel branches show as overlapping bars. A node's own statements, events of
its span (`telemetry.tally`), are rows under it as their spans would be. Failed spans are
red and marked ``✗``; spans with a threshold breach event are marked ``⚠``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from telemetry.trace_file import (
    TraceNotFoundError,
    has_breach,
    is_error,
    load_trace,
    statement_rows,
)

__all__ = ["TraceNotFoundError", "TraceView", "render_trace"]


@dataclass(frozen=True)
class TraceView:
    """What :func:`render_trace` drew: the trace, its run, and counts."""

    trace_id: str
    run_id: str | None
    root_name: str
    span_count: int
    error_count: int
    duration_ms: float


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
    """Draw the waterfall of one run on ``console`` (the lookup: `telemetry.trace_file`).

    Raises TraceNotFoundError when the file is missing or holds no matching trace.
    """
    spans = load_trace(Path(path), run_or_trace_id)
    console = console or Console()

    for s in spans:
        s["end_ns"] = s.get("end_ns") or s.get("start_ns") or 0
        s["start_ns"] = s.get("start_ns") or s["end_ns"]
    drawn = spans + statement_rows(spans)
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    ids = {s["span_id"] for s in drawn}
    for s in drawn:
        parent = s.get("parent_span_id")
        children[parent if parent in ids else None].append(s)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s["start_ns"], s["name"]))

    t0 = min(s["start_ns"] for s in drawn)
    t1 = max(s["end_ns"] for s in drawn)
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
    errors = sum(1 for s in spans if is_error(s))

    rows: list[tuple[Text, str, dict[str, Any] | None, int]] = []

    def add(span: dict[str, Any], prefix: str, last: bool, depth: int) -> None:
        guide = "" if depth == 0 else ("└─ " if last else "├─ ")
        failed = is_error(span)
        label = Text(prefix + guide, style="dim")
        label.append(("✗ " if failed else "") + span["name"], style="bold red" if failed else "")
        if has_breach(span):
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
        failed = is_error(span)
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
