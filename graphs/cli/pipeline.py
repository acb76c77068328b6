"""The deal review's pipeline table in the terminal, and as CSV (`sophia run ... --csv`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from nodes.wording import money, status_words

COLUMNS = (
    "rank",
    "deal_id",
    "deal",
    "owner",
    "stage",
    "amount",
    "close_date",
    "status",
    "health_score",
    "risks",
    "days_since_activity",
)
_STYLE = {"at_risk": "red", "watch": "yellow", "healthy": "green", "won": "cyan", "lost": "dim"}


def pipeline_table(rows: list[dict[str, Any]], as_of: dict[str, str] | None = None) -> Table:
    """The ranked deals as one table (most at risk first, then the largest)."""
    when = f" as of {as_of['at']} ({as_of['source']})" if as_of else ""
    table = Table(title=f"pipeline: {len(rows)} deals ranked by risk, then amount{when}")
    for name, right in (
        ("#", True),
        ("deal", False),
        ("owner", False),
        ("stage", False),
        ("amount", True),
        ("status", False),
        ("health", True),
        ("risks heard", False),
        ("idle days", True),
    ):
        table.add_column(
            name,
            justify="right" if right else "left",
            no_wrap=name in ("#", "deal", "amount", "status"),
        )
    for r in rows:
        style = _STYLE.get(r["status"], "")
        status = status_words(r["status"])
        table.add_row(
            str(r["rank"]),
            r["deal_id"],
            r.get("owner") or "",
            r.get("stage") or "",
            money(r.get("amount")),
            f"[{style}]{status}[/]" if style else status,
            "" if r.get("health_score") is None else str(r["health_score"]),
            ", ".join(r.get("risks") or []),
            "" if r.get("days_since_activity") is None else str(r["days_since_activity"]),
        )
    return table


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The ranked deals as CSV text (header row; risks joined with ``;``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "risks": ";".join(r.get("risks") or [])})
    return out.getvalue()


def write_csv(console: Console, result: dict[str, Any], path: str) -> None:
    """Write the run's ranked pipeline table as CSV to `path` (and say so on `console`)."""
    from graphs.cli.output import UsageError

    rows = result.get("pipeline")
    if rows is None:
        raise UsageError("--csv writes the deal review's pipeline table; this run has none")
    Path(path).write_text(to_csv(rows), encoding="utf-8")
    console.print(f"pipeline written to {path} ({len(rows)} deals)", markup=False)
