"""CLI commands for durable runs: look at a thread, resume it with a reviewer's decision.

    sophia thread THREAD [--graph deal_review] [--json]
    sophia resume THREAD --decision approve|reject [--note TEXT] [--reviewer NAME]
                  [--graph deal_review] [--json]

`resume` without ``--decision`` continues a run whose process died (from its last
completed superstep). The commands open an `Engine` from the environment, so they see
the same checkpoint store as `sophia serve` (SQLite under the data dir, or Postgres).
Wire them into `graphs.cli.main` with `add_commands(sub)` and `run_command(args)`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console

from stores.errors import SophiaError
from stores.settings import Settings

COMMANDS = ("thread", "resume")
console = Console()


def add_commands(sub: Any) -> None:
    """Add ``thread`` and ``resume`` to the `sophia` sub-command parsers `sub`."""
    thread = sub.add_parser("thread", help="show a thread's state: next nodes, pending approval")
    thread.add_argument("thread_id", metavar="THREAD")
    thread.add_argument("--graph", default="deal_review", help="the thread's graph")
    thread.add_argument("--json", action="store_true", help="print JSON")

    resume = sub.add_parser(
        "resume", help="resume a thread: answer its approval request, or finish a died run"
    )
    resume.add_argument("thread_id", metavar="THREAD")
    resume.add_argument("--decision", choices=["approve", "reject"], help="the reviewer's answer")
    resume.add_argument("--note", help="a note kept with the decision")
    resume.add_argument("--reviewer", help="who decided")
    resume.add_argument("--graph", default="deal_review", help="the thread's graph")
    resume.add_argument("--json", action="store_true", help="print the result as JSON")


async def run_command(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run ``thread`` or ``resume``; 0 on success, 1 with a message on a SophiaError."""
    from graphs.engine.engine import Engine

    try:
        async with Engine(settings or Settings(), configure_telemetry=False) as engine:
            if args.command == "thread":
                snapshot = await engine.get_state(args.graph, args.thread_id)
                view = {
                    "thread_id": args.thread_id,
                    "next": list(snapshot.next),
                    "interrupts": [{"id": i.id, "value": i.value} for i in snapshot.interrupts],
                    "step": (snapshot.metadata or {}).get("step"),
                }
                _print(view, args.json)
                return 0
            decision: Any = None
            if args.decision:
                decision = {"decision": args.decision, "note": args.note, "reviewer": args.reviewer}
            result = await engine.resume(args.graph, args.thread_id, decision)
            _print(_summary(result) if not args.json else result, args.json)
            return 0
    except SophiaError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 1


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    deals = {
        deal_id: {
            "status": (entry.get("report") or {}).get("status"),
            "health_score": (entry.get("report") or {}).get("health_score"),
            "approval": (entry.get("report") or {}).get("approval"),
        }
        for deal_id, entry in (result.get("deals") or {}).items()
    }
    return {
        "thread_id": result.get("thread_id"),
        "status": result.get("status"),
        "interrupts": result.get("interrupts"),
        "deals": deals,
        "errors": result.get("errors"),
    }


def _print(value: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(value, default=str, indent=2))
    else:
        console.print_json(json.dumps(value, default=str))
