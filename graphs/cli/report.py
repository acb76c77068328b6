"""Readable terminal output of a run: its reports, failed sources, timings and next steps.

`print_result` is what ``sophia run`` and ``sophia resume`` print without ``--json``:
one deal in detail, several deals as one table (`print_deal_table`), the memories of a
recall, each failed source with the setting or service to check, the node timings, the
run and trace ids on lines of their own, and what to do next (resume a paused run, look
at the spans).
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graphs.cli.output import print_copyable
from nodes.stages import stage_label
from nodes.wording import status_words
from stores.settings import Settings
from stores.urls import redact_url

STATUS_STYLE = {
    "healthy": "green",
    "watch": "yellow",
    "at_risk": "red",
    "unknown": "dim",
    "won": "cyan",
    "lost": "dim",
    "not_found": "dim",
}
AS_OF_SOURCE = {
    "input": "as asked",
    "warehouse": "the time the warehouse's data is recorded as of",
    "clock": "now",
}
WAREHOUSE_NODES = frozenset({"hubspot", "gong", "slack", "linear"})
JAEGER_UI_PORT = 16686


def show_result(graph: str, result: dict[str, Any], *, settings: Settings, as_json: bool) -> None:
    """A run's result on stdout: all of it as JSON, or `print_result` for a person."""
    from graphs.cli.output import print_json, stdout_console

    if as_json:
        print_json(result)
    else:
        print_result(stdout_console(), graph, result, settings=settings)


def print_result(
    console: Console, graph: str, result: dict[str, Any], *, settings: Settings
) -> None:
    """Print `result` of a run of `graph` for a person (see the module docstring)."""
    paused = result.get("status") == "interrupted"
    deals = result.get("deals") or {}
    pipeline = result.get("pipeline")
    if paused:
        print_paused(console, result)
    elif len(deals) == 1 and not result.get("selection"):
        deal_id, deal = next(iter(deals.items()))
        print_deal(console, deal_id, deal)
    elif pipeline is not None:
        from graphs.cli.pipeline import pipeline_table

        console.print(pipeline_table(pipeline, result.get("as_of")))  # its title says as of
        console.print(f"One deal in detail: `sophia run {graph} --deal ID`; all of it: `--json`.")
    elif deals:
        print_deal_table(console, graph, deals)
    if result.get("as_of") and (pipeline is None or paused or len(deals) == 1):
        as_of = result["as_of"]
        console.print(
            f"as of {as_of['at']} ({AS_OF_SOURCE.get(as_of['source'], '')})", markup=False
        )
    if result.get("memories") is not None:
        print_memories(console, result["memories"])
    if result.get("memory_index"):  # the index is loading or being built: say so
        console.print(f"memories: {result['memory_index'].get('message', '')}", style="dim",
                      markup=False)  # fmt: skip
    print_failures(console, result.get("errors") or [], settings)
    timings = result.get("timings") or {}
    if timings:
        console.print(timing_table(timings, width=max(10, min(40, console.width - 36))))
    print_ids(console, result)
    if paused:
        print_resume_commands(console, graph, result)
    else:
        print_trace_pointer(console, result, settings)


def print_deal(console: Console, deal_id: str, deal: dict[str, Any]) -> None:
    """One deal's report: health, summary, the facts per source, reasons and memories."""
    report = deal.get("report") or {}
    status = report.get("status", "unknown")
    style = STATUS_STYLE.get(status, "")
    console.rule(f"[bold]{escape(deal_id)}[/] {escape(str(report.get('deal', '')))}")
    score = report.get("health_score")
    health = f"health [{style}]{score}/100[/] " if score is not None else ""
    note = escape(str(report.get("confidence_note", "")))
    console.print(f"{health}[{style}]{escape(status_words(status))}[/]  ({note})")
    if report.get("summary"):
        console.print(report["summary"], markup=False)
    table = Table(show_header=True, box=None, padding=(0, 1))
    table.add_column("source", style="bold", no_wrap=True)
    table.add_column("facts", ratio=1)
    for source, text in _facts(deal.get("facts") or {}):
        table.add_row(source, escape(text))
    if table.row_count:
        console.print(table)
    for reason in report.get("reasons", []):
        console.print(f"  • {reason}", markup=False)
    approval = report.get("approval")
    if approval:
        by = f" by {approval['reviewer']}" if approval.get("reviewer") else ""
        note = f": {approval['note']}" if approval.get("note") else ""
        decision = escape(str(approval.get("decision")))
        console.print(f"  [bold]review {decision}[/]{escape(by + note)}")
    print_evidence(console, deal.get("facts") or {})
    for hit in deal.get("memories") or []:
        where = "Gong call" if hit["source"] == "gong" else "Slack message"
        console.print(
            f"  [cyan]recalled {where} {escape(str(hit['ref']))} of "
            f"{escape(str(hit.get('at') or '')[:10])}[/] "
            f"({escape(', '.join(hit.get('risks') or []))}): "
            f"{escape((hit['text'] or '')[:120])}"
        )


def print_evidence(console: Console, facts: dict[str, Any]) -> None:
    """The first piece of evidence of each risk heard on calls or read in Slack."""
    for src in ("gong", "slack"):
        for risk in (facts.get(src) or {}).get("open_risks") or []:
            ev = risk["evidence"][0]
            hedged = " (hedged)" if ev.get("hedged") else ""
            who = ev.get("speaker") or "?"
            console.print(
                f"  [magenta]{escape(risk['risk'])}[/]{hedged}: "
                + escape(f'"{ev["line"]}" — {who}, {ev["where"]}, {str(ev.get("at") or "")[:10]}')
            )


def _facts(facts: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    hub, gong, slack, lin = (facts.get(k) for k in ("hubspot", "gong", "slack", "linear"))
    if hub and hub.get("found"):
        rows.append(
            (
                "HubSpot",
                f"${hub['amount']:,.0f} · {stage_label(hub['stage'])} · owner {hub['owner']} · "
                f"last activity {hub['days_since_activity']} days ago · {hub['company']}",
            )
        )
    if gong:
        ratio = gong.get("rep_talk_ratio")
        talk = f" · our reps spoke {ratio:.0%} of call time" if ratio is not None else ""
        rows.append(
            (
                "Gong",
                f"{gong['call_count']} calls ({gong['calls_last_30_days']} in the last 30 days)"
                f"{talk} · risks raised: {_risks(gong)}",
            )
        )
    if slack:
        rows.append(
            (
                "Slack",
                f"{slack['message_count']} messages · {slack['questions']} questions, "
                f"{slack.get('unanswered_count', 0)} unanswered · risks reported: "
                f"{_risks(slack)}",
            )
        )
    if lin:
        rows.append(
            (
                "Linear",
                f"{lin.get('open_issues', 0)} open issues · "
                f"{len(lin.get('blocked_issues', []))} blocked",
            )
        )
    return rows


def _risks(facts: dict[str, Any]) -> str:
    risks = facts.get("open_risks") or []
    return ", ".join(f"{r['risk']} x{r['mentions']}" for r in risks) or "none"


def print_deal_table(console: Console, graph: str, deals: dict[str, Any]) -> None:
    """Several deals on one screen, worst health first: one row per deal.

    This is where ``sophia run`` prints a multi-deal result (a ranked pipeline table can
    take its place).
    """
    rows = []
    for deal_id, deal in deals.items():
        report = deal.get("report") or {}
        rows.append((deal_id, report))
    rows.sort(key=lambda r: (r[1].get("health_score") is None, r[1].get("health_score") or 0))
    table = Table(title=f"{len(rows)} deals, worst first", box=None, padding=(0, 1))
    table.add_column("deal", no_wrap=True, style="bold")
    table.add_column("name", ratio=2)
    table.add_column("health", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("first reason", ratio=3)
    for deal_id, report in rows:
        status = report.get("status", "unknown")
        health = report.get("health_score")
        decision = (report.get("approval") or {}).get("decision")
        table.add_row(
            escape(deal_id),
            escape(str(report.get("deal", ""))),
            "-" if health is None else str(health),
            f"[{STATUS_STYLE.get(status, '')}]{escape(status_words(str(status)))}[/]"
            + (f"\n{escape(decision)}" if decision else ""),
            escape((report.get("reasons") or [""])[0]),
        )
    console.print(table)
    console.print(f"One deal in detail: `sophia run {graph} --deal ID`; all of it: `--json`.")


def print_paused(console: Console, result: dict[str, Any]) -> None:
    """What a paused run waits for: the deals awaiting a reviewer's decision, and why."""
    for pending in result.get("interrupts") or []:
        value = pending.get("value") or {}
        deals = value.get("deals") or {}
        question = value.get("question") or "the run waits for input"
        console.print(f"[bold yellow]Paused:[/] {escape(str(question))}")
        table = Table(box=None, padding=(0, 1))
        table.add_column("deal", no_wrap=True, style="bold")
        table.add_column("name", ratio=2)
        table.add_column("health", justify="right", no_wrap=True)
        table.add_column("why", ratio=3)
        for deal_id, entry in deals.items():
            health = entry.get("health_score")
            table.add_row(
                escape(deal_id),
                escape(str(entry.get("deal", ""))),
                "-" if health is None else str(health),
                escape("; ".join(entry.get("reasons") or [])),
            )
        if deals:
            console.print(table)


def resume_commands(graph: str, result: dict[str, Any]) -> list[str]:
    """The commands that answer a paused run (one per option it offers)."""
    thread = shlex.quote(str(result.get("thread_id") or "THREAD"))
    graph_option = "" if graph == "deal_review" else f" --graph {shlex.quote(graph)}"
    options: list[str] = []
    for pending in result.get("interrupts") or []:
        for option in (pending.get("value") or {}).get("options") or []:
            if option not in options:
                options.append(str(option))
    return [
        f"sophia resume {thread} --decision {option}{graph_option}"
        for option in options or ["approve", "reject"]
    ]


def print_resume_commands(console: Console, graph: str, result: dict[str, Any]) -> None:
    """Next step of a paused run: the resume commands, each on a line of its own."""
    console.print("Next: decide, and the run finishes (add --note TEXT to keep a note):")
    for command in resume_commands(graph, result):
        print_copyable(console, f"  {command}")


def print_memories(console: Console, memories: list[dict[str, Any]]) -> None:
    """The memories a recall found, best first."""
    if not memories:
        console.print("No memories found (`sophia seed` builds the memory index).")
        return
    table = Table(box=None, padding=(0, 1))
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("ref", no_wrap=True)
    table.add_column("text", ratio=1)
    for hit in memories:
        table.add_row(
            f"{hit.get('score', 0):.2f}",
            escape(str(hit.get("source") or "")),
            escape(str(hit.get("ref") or "")),
            escape((hit.get("text") or "")[:300]),
        )
    console.print(table)


def print_failures(console: Console, errors: list[dict[str, Any]], settings: Settings) -> None:
    """Each failed branch with the setting or service to check."""
    if not errors:
        return
    console.print(
        f"[red]{len(errors)} branch{'es' if len(errors) > 1 else ''} failed[/]; "
        "the result is built from the others:"
    )
    for err in errors:
        console.print(
            f"  [red]✗ {escape(str(err.get('node')))}[/]: "
            + escape(f"{err.get('error')}: {err.get('message')}")
        )
        console.print(f"    {what_to_check(err, settings)}", style="dim", markup=False)


def what_to_check(error: dict[str, Any], settings: Settings) -> str:
    """What a person should look at when branch `error` failed: a setting or a service."""
    node = error.get("node")
    if error.get("timed_out"):
        return (
            f"it ran past SOPHIA_NODE_TIMEOUT_S ({settings.node_timeout_s:g} s): check the "
            "warehouse's latency with `sophia info`, or raise the timeout"
        )
    if node in WAREHOUSE_NODES:
        where = redact_url(settings.resolved_warehouse_url)
        if error.get("error") == "CircuitOpenError":
            return (
                f"the warehouse breaker opened after repeated failures: check the warehouse "
                f"at SOPHIA_WAREHOUSE_URL ({where}); `sophia info` shows whether it answers"
            )
        return (
            f"check the warehouse at SOPHIA_WAREHOUSE_URL ({where}); `sophia info` shows "
            "whether it is reachable"
        )
    if node == "memory":
        return (
            f"check the memory index in {settings.data_dir / 'memory'}; `sophia seed` "
            "rebuilds it"
        )
    return "rerun with -v to see the log"


def print_ids(console: Console, result: dict[str, Any]) -> None:
    """Status, then the run, thread and trace ids each on a line of its own."""
    console.print(f"status [bold]{escape(str(result.get('status', '?')))}[/]")
    for label, key in (("run", "run_id"), ("thread", "thread_id"), ("trace", "trace_id")):
        if result.get(key):
            print_copyable(console, f"{label:<6} {result[key]}")


def otlp_endpoint() -> str | None:
    """The OTLP endpoint spans are exported to (the standard OTEL_* variables), if any."""
    import os

    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )


def jaeger_ui(settings: Settings) -> str | None:
    """Jaeger's UI base URL: SOPHIA_JAEGER_UI, else port 16686 on the OTLP endpoint's
    host, else None (no OTLP endpoint: spans go to the local file only)."""
    if settings.jaeger_ui:
        return settings.jaeger_ui.rstrip("/")
    endpoint = otlp_endpoint()
    if not endpoint:
        return None
    return f"http://{urlsplit(endpoint).hostname or 'localhost'}:{JAEGER_UI_PORT}"


def print_trace_pointer(console: Console, result: dict[str, Any], settings: Settings) -> None:
    """Where the run's spans can be seen: its Jaeger link, or the `sophia trace` command."""
    trace_id = result.get("trace_id")
    base = jaeger_ui(settings) if otlp_endpoint() else None
    if trace_id and base:
        console.print("Spans in Jaeger:")
        print_copyable(console, f"  {base}/trace/{trace_id}")
    elif trace_id and settings.trace_file:
        console.print("Spans as a waterfall:")
        print_copyable(console, f"  sophia trace {result.get('run_id') or trace_id}")


def timing_table(timings: dict[str, dict[str, Any]], width: int = 40) -> Table:
    """Node timings with a bar on a shared time axis, so parallel nodes show overlap."""
    start = min(t["start_ms"] for t in timings.values())
    end = max(t["end_ms"] for t in timings.values())
    span = max(end - start, 1e-6)
    table = Table(title=f"node timings (run {end - start:.1f} ms)", box=None)
    table.add_column("node", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("timeline", no_wrap=True, width=width)
    for name, t in sorted(timings.items(), key=lambda kv: kv[1]["start_ms"]):
        a = min(width - 1, int((t["start_ms"] - start) / span * width))
        b = max(a + 1, int((t["end_ms"] - start) / span * width))
        bar = " " * a + ("█" if t["ok"] else "[red]█[/]") * (b - a)
        table.add_row(name, f"{t['duration_ms']:.1f}", bar)
    return table
