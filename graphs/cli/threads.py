"""``sophia thread`` and ``sophia resume``: look at a durable run, answer its approval request.

    sophia thread THREAD [--graph deal_review] [--json]
    sophia resume THREAD --decision approve|reject [--note TEXT] [--reviewer NAME]
                  [--graph deal_review] [--json]

`resume` without ``--decision`` continues a run whose process died (from its last
completed superstep). Both open an `Engine` from the environment, so they see the same
checkpoint store as `sophia serve` (SQLite under the data dir, or Postgres).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``thread`` and ``resume`` to the sub-command parsers `sub`."""
    thread = sub.add_parser(
        "thread",
        parents=[common],
        help="show a thread's state: its step, next nodes, a pending approval",
        description="Show the latest checkpoint of a durable run (`sophia run GRAPH "
        "--thread ID`): where it is, what it waits for, and what to do next.",
    )
    thread.add_argument("thread_id", metavar="THREAD", help="the thread id given to `run`")
    thread.add_argument("--graph", default="deal_review", help="the thread's graph")
    thread.add_argument("--json", action="store_true", help="print the state as JSON")
    thread.set_defaults(handler=thread_main)

    resume = sub.add_parser(
        "resume",
        parents=[common],
        help="resume a thread: answer its approval request, or finish a stopped run",
        description="Resume a durable run: answer a run paused for approval with "
        "--decision, or (without it) continue a run whose process stopped, from its last "
        "completed step. Prints the finished run's report.",
    )
    resume.add_argument("thread_id", metavar="THREAD", help="the thread id given to `run`")
    resume.add_argument(
        "--decision", choices=["approve", "reject"], help="the reviewer's answer to the approval"
    )
    resume.add_argument("--note", help="a note kept with the decision")
    resume.add_argument("--reviewer", help="who decided")
    resume.add_argument("--graph", default="deal_review", help="the thread's graph")
    resume.add_argument("--json", action="store_true", help="print the result as JSON")
    resume.set_defaults(handler=resume_main)


def thread_view(thread_id: str, graph: str, snapshot: Any) -> dict[str, Any]:
    """What ``sophia thread`` shows of a LangGraph `StateSnapshot`."""
    interrupts = [{"id": i.id, "value": i.value} for i in snapshot.interrupts]
    next_nodes = list(snapshot.next)
    status = "paused" if interrupts else "unfinished" if next_nodes else "finished"
    return {
        "thread_id": thread_id,
        "graph": graph,
        "status": status,
        "step": (snapshot.metadata or {}).get("step"),
        "next": next_nodes,
        "interrupts": interrupts,
    }


def thread_main(args: argparse.Namespace) -> int:
    """Print the state of one thread (a table, or JSON with ``--json``)."""
    import asyncio

    from graphs.engine.engine import Engine
    from stores.settings import Settings

    async def read() -> Any:
        async with Engine(Settings(), configure_telemetry=False) as engine:
            return await engine.get_state(args.graph, args.thread_id)

    view = thread_view(args.thread_id, args.graph, asyncio.run(read()))
    if args.json:
        from graphs.cli.output import print_json

        print_json(view)
    else:
        print_thread(view)
    return 0


def print_thread(view: dict[str, Any]) -> None:
    """The thread as a small table, its pending approval, and the next step."""
    from rich.table import Table

    from graphs.cli.output import print_copyable, stdout_console
    from graphs.cli.report import print_paused, print_resume_commands

    console = stdout_console()
    table = Table(box=None, padding=(0, 1), show_header=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")
    table.add_row("thread", view["thread_id"])
    table.add_row("graph", view["graph"])
    table.add_row("status", view["status"])
    table.add_row("step", "-" if view["step"] is None else str(view["step"]))
    table.add_row("next", ", ".join(view["next"]) or "-")
    console.print(table)
    graph = view["graph"]
    graph_option = "" if graph == "deal_review" else f" --graph {shlex.quote(graph)}"
    if view["status"] == "paused":
        print_paused(console, view)
        print_resume_commands(console, view["graph"], view)
    elif view["status"] == "unfinished":
        console.print("Next: its process stopped mid-run; continue from the last step:")
        print_copyable(console, f"  sophia resume {shlex.quote(view['thread_id'])}{graph_option}")
    else:
        console.print("The run finished; its whole state: `--json`, its spans: `sophia trace`.")


def resume_main(args: argparse.Namespace) -> int:
    """Resume one thread and print the finished run (its report, or JSON)."""
    import asyncio

    from graphs.cli.output import UsageError
    from graphs.engine.engine import Engine
    from stores.settings import Settings

    decision: Any = None
    if args.decision:
        decision = {"decision": args.decision, "note": args.note, "reviewer": args.reviewer}
    settings = Settings().with_absolute_paths()

    async def resume() -> dict[str, Any]:
        async with Engine(settings) as engine:
            snapshot = await engine.get_state(args.graph, args.thread_id)
            if snapshot.interrupts and decision is None:
                raise UsageError(
                    f"thread {args.thread_id!r} waits for a reviewer: add --decision approve "
                    "or --decision reject"
                )
            return await engine.resume(args.graph, args.thread_id, decision)

    result = asyncio.run(resume())
    from graphs.cli.report import show_result

    show_result(args.graph, result, settings=settings, as_json=args.json)
    return 0
