"""Readable terminal output of a run: the report per deal and the node timings."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

_STATUS_STYLE = {"healthy": "green", "watch": "yellow", "at_risk": "red", "unknown": "dim"}


def print_result(
    console: Console, graph: str, result: dict[str, Any], *, jaeger_url: str | None = None
) -> None:
    """Print `result` of graph `graph`: per-deal reports, errors, timings and the trace."""
    for deal_id, deal in (result.get("deals") or {}).items():
        _print_deal(console, deal_id, deal)
    for err in result.get("errors") or []:
        console.print(f"[red]branch {err['node']} failed:[/] {err['error']}: {err['message']}")
    if result.get("memories"):
        for hit in result["memories"]:
            console.print(f"  [cyan]{hit['score']:.2f}[/] {hit['text']}")
    timings = result.get("timings") or {}
    if timings:
        console.print(timing_table(timings))
    console.print(
        f"run [bold]{result['run_id']}[/]  trace [bold]{result['trace_id']}[/]"
        f"  status {result.get('status', '?')}"
    )
    if jaeger_url:
        console.print(f"Jaeger: {jaeger_url}")
    else:
        console.print("Spans: `sophia trace` (local file)")


def _print_deal(console: Console, deal_id: str, deal: dict[str, Any]) -> None:
    report = deal.get("report") or {}
    status = report.get("status", "unknown")
    style = _STATUS_STYLE.get(status, "")
    console.rule(f"[bold]{deal_id}[/] {report.get('deal', '')}")
    console.print(
        f"health [{style}]{report.get('health_score')}[/] ({status})  "
        f"confidence {report.get('confidence')}"
    )
    console.print(report.get("summary", ""))
    facts = deal.get("facts") or {}
    table = Table(show_header=True, box=None, padding=(0, 1))
    table.add_column("source", style="bold")
    table.add_column("facts")
    hub, gong, slack, lin = (facts.get(k) for k in ("hubspot", "gong", "slack", "linear"))
    if hub and hub.get("found"):
        table.add_row(
            "HubSpot",
            f"${hub['amount']:,.0f} · {hub['stage']} · owner {hub['owner']} · "
            f"last activity {hub['days_since_activity']} days ago · {hub['company']}",
        )
    if gong:
        risks = ", ".join(f"{r['risk']} x{r['mentions']}" for r in gong["open_risks"]) or "none"
        table.add_row(
            "Gong",
            f"{gong['call_count']} calls ({gong['calls_last_30_days']} in 30 d) · "
            f"rep talk ratio {gong['rep_talk_ratio']} · risks: {risks}",
        )
    if slack:
        table.add_row(
            "Slack",
            f"{slack['message_count']} messages · {slack['questions']} questions, "
            f"{slack.get('unanswered_count', 0)} unanswered",
        )
    if lin:
        table.add_row(
            "Linear",
            f"{lin.get('open_issues', 0)} open issues · "
            f"{len(lin.get('blocked_issues', []))} blocked",
        )
    console.print(table)
    for reason in report.get("reasons", []):
        console.print(f"  • {reason}")
    for hit in deal.get("memories") or []:
        console.print(
            f"  [cyan]recalled {hit['source']} {hit['ref']}[/] ({hit['score']:.2f}): "
            f"{(hit['text'] or '')[:120]}"
        )


def timing_table(timings: dict[str, dict[str, Any]], width: int = 40) -> Table:
    """Node timings with a bar on a shared time axis, so parallel nodes show overlap."""
    start = min(t["start_ms"] for t in timings.values())
    end = max(t["end_ms"] for t in timings.values())
    span = max(end - start, 1e-6)
    table = Table(title=f"node timings (run {end - start:.1f} ms)", box=None)
    table.add_column("node")
    table.add_column("ms", justify="right")
    table.add_column("timeline")
    for name, t in sorted(timings.items(), key=lambda kv: kv[1]["start_ms"]):
        a = int((t["start_ms"] - start) / span * width)
        b = max(a + 1, int((t["end_ms"] - start) / span * width))
        bar = " " * a + ("█" if t["ok"] else "[red]█[/]") * (b - a)
        table.add_row(name, f"{t['duration_ms']:.1f}", bar)
    return table
