"""``sophia run GRAPH``: run a graph once and print its report (or ``--json``).

The input is checked before anything heavy happens: malformed ``--input`` JSON is a usage
error before the engine is imported, and an unknown graph or invalid input is one before
the engine opens (so a typo never seeds the demo warehouse or opens a pool).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from graphs.cli.arguments import HelpFormatter

EXAMPLES = """\
examples:
  sophia run deal_review                              the demo deal
  sophia run deal_review --deal D-00001 --deal D-00042
  sophia run deal_review --memories                   wait for the memory index to load
  sophia run memory_recall --input '{"query": "competitor pricing"}'
  sophia run deal_review --thread t-1 --input '{"deal_ids": ["D-00003"], "require_approval": true}'
"""

MEMORY_WAIT_S = 60
"""How long ``sophia run --memories`` waits for the memory index."""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``run`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "run",
        parents=[common],
        help="run a graph and print its report",
        description="Run a graph once on the shared resources and print its report: the "
        "result per deal, failed sources with what to check, node timings, the run and "
        "trace ids. The demo warehouse is seeded on first use.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("graph", metavar="GRAPH", help="the graph to run (`sophia graphs`)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--deal",
        dest="deals",
        action="append",
        metavar="ID",
        help="a deal to review (repeat for several; default: the demo deal D-00001)",
    )
    source.add_argument(
        "--input",
        metavar="JSON",
        help="the graph's whole input as a JSON object (`sophia graphs` lists its fields)",
    )
    parser.add_argument(
        "--thread",
        metavar="ID",
        help="run durably on this thread: checkpointed after every step, resumable with "
        "`sophia resume ID` (needed for require_approval)",
    )
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.add_argument(
        "--memories",
        action="store_true",
        help=f"wait (at most {MEMORY_WAIT_S} s) for the memory index to load, so the review "
        "recalls memories; without it a run never waits and says the index is loading",
    )
    parser.add_argument(
        "--csv",
        metavar="PATH",
        help="write the deal review's ranked pipeline table as CSV to PATH",
    )
    parser.set_defaults(handler=main)


def parse_input(text: str | None, deals: list[str] | None) -> dict[str, Any]:
    """The graph input from ``--input`` (a JSON object) or ``--deal`` ids; UsageError if
    ``--input`` is not a JSON object."""
    from graphs.cli.output import UsageError

    if text is None:
        return {"deal_ids": deals} if deals else {}
    example = """e.g. --input '{"deal_ids": ["D-00001"]}'"""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--input is not valid JSON ({exc.msg} at column {exc.colno}); give a JSON "
            f"object, {example}"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(
            f"--input must be a JSON object, not {_json_kind(value)}; {example}"
        )
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def main(args: argparse.Namespace) -> int:
    """Run the graph named in `args` and print the result; 0 once it has a result."""
    import asyncio

    from graphs.cli.output import UsageError, line_printer, stderr_console

    payload = parse_input(args.input, args.deals)  # before LangGraph's import: a typo is fast
    from graphs.engine.engine import Engine, default_registry
    from graphs.engine.run_input import RunInput
    from stores.settings import Settings

    registry = default_registry()
    run_input = RunInput(args.graph, registry.get(args.graph).validate(payload))
    if run_input.pauses_for_approval and not args.thread:
        raise UsageError(
            "require_approval pauses the run for a reviewer, which needs a thread: add "
            "--thread ID (e.g. --thread review-1)"
        )
    settings = Settings().with_absolute_paths()
    progress = stderr_console()

    async def invoke() -> dict[str, Any]:
        async with Engine(
            settings,
            registry=registry,
            auto_seed=True,
            on_seed=line_printer(progress),
            configure_telemetry=True,
        ) as engine:
            if args.memories and not await engine.memory_ready(MEMORY_WAIT_S):
                progress.print(f"the memory index is not ready after {MEMORY_WAIT_S} s: "
                               "the review goes on without memories")  # fmt: skip
            return await engine.invoke(args.graph, run_input, thread_id=args.thread)

    result = asyncio.run(invoke())
    from graphs.cli.report import show_result

    show_result(args.graph, result, settings=settings, as_json=args.json)
    if args.csv:
        from graphs.cli.pipeline import write_csv

        write_csv(progress, result, args.csv)
    return 0
