"""Readable terminal output of a run: the report per deal and the node timings."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from nodes.stages import stage_label
from nodes.wording import status_words

_STATUS_STYLE = {
    "healthy": "green",
    "watch": "yellow",
    "at_risk": "red",
    "unknown": "dim",
    "won": "cyan",
    "lost": "dim",
    "not_found": "dim",
}


def print_result(
    console: Console, graph: str, result: dict[str, Any], *, jaeger_url: str | None = None
) -> None:
    """Print `result` of graph `graph`: per-deal reports, errors, timings and the trace."""
    for deal_id, deal in (result.get("deals") or {}).items():
        _print_deal(console, deal_id, deal)
    if result.get("as_of"):
        as_of = result["as_of"]
        console.print(f"as of {as_of['at']} ({_AS_OF_SOURCE.get(as_of['source'], '')})")
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


_AS_OF_SOURCE = {
    "input": "as asked",
    "warehouse": "the time the warehouse's data is recorded as of",
    "clock": "now",
}


def _print_deal(console: Console, deal_id: str, deal: dict[str, Any]) -> None:
    report = deal.get("report") or {}
    status = report.get("status", "unknown")
    style = _STATUS_STYLE.get(status, "")
    console.rule(f"[bold]{deal_id}[/] {report.get('deal', '')}")
    score = report.get("health_score")
    health = f"health [{style}]{score}/100[/] " if score is not None else ""
    note = report.get("confidence_note", "")
    console.print(f"{health}[{style}]{status_words(status)}[/]  ({note})")
    console.print(report.get("summary", ""))
    facts = deal.get("facts") or {}
    table = Table(show_header=True, box=None, padding=(0, 1))
    table.add_column("source", style="bold")
    table.add_column("facts")
    hub, gong, slack, lin = (facts.get(k) for k in ("hubspot", "gong", "slack", "linear"))
    if hub and hub.get("found"):
        table.add_row(
            "HubSpot",
            f"${hub['amount']:,.0f} · {stage_label(hub['stage'])} · owner {hub['owner']} · "
            f"last activity {hub['days_since_activity']} days ago · {hub['company']}",
        )
    if gong:
        ratio = gong.get("rep_talk_ratio")
        talk = f" · our reps spoke {ratio:.0%} of call time" if ratio is not None else ""
        table.add_row(
            "Gong",
            f"{gong['call_count']} calls ({gong['calls_last_30_days']} in the last 30 days)"
            f"{talk} · risks raised: {_risks(gong)}",
        )
    if slack:
        table.add_row(
            "Slack",
            f"{slack['message_count']} messages · {slack['questions']} questions, "
            f"{slack.get('unanswered_count', 0)} unanswered · risks reported: {_risks(slack)}",
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
    for src in ("gong", "slack"):
        for risk in (facts.get(src) or {}).get("open_risks") or []:
            ev = risk["evidence"][0]
            hedged = " (hedged)" if ev.get("hedged") else ""
            who = ev.get("speaker") or "?"
            console.print(
                f"  [magenta]{risk['risk']}[/]{hedged}: \"{ev['line']}\" — {who}, "
                f"{ev['where']}, {str(ev.get('at') or '')[:10]}"
            )
    for hit in deal.get("memories") or []:
        where = "Gong call" if hit["source"] == "gong" else "Slack message"
        console.print(
            f"  [cyan]recalled {where} {hit['ref']} of {str(hit.get('at') or '')[:10]}[/] "
            f"({', '.join(hit.get('risks') or [])}): {(hit['text'] or '')[:120]}"
        )


def _risks(facts: dict[str, Any]) -> str:
    return ", ".join(
        f"{r['risk']} x{r['mentions']}" for r in facts.get("open_risks") or []
    ) or "none"


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
