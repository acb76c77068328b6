"""``sophia trace [RUN]``: a run's spans from the local span file, drawn as a waterfall.

The span file is ``traces.jsonl`` in the data dir, which resolves the same from any
folder (`stores.settings.Settings.locate_data_dir`), so the last run is found wherever
the command is typed.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trace`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "trace",
        parents=[common],
        help="draw a run's spans as a waterfall (local span file)",
        description="Draw one run's spans as a waterfall: each node, query, cache look-up "
        "and index search with its duration on a shared time axis. Reads traces.jsonl in "
        "the data dir (`sophia info` shows where).",
    )
    parser.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="a run id, a trace id or a unique prefix of one (default: the last run)",
    )
    parser.add_argument("--json", action="store_true", help="print the run's spans as JSON")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Draw (or print as JSON) the spans of one run."""
    from graphs.cli.output import CommandError, UsageError, print_json, stdout_console
    from stores.settings import Settings
    from telemetry.file_exporter import existing_trace_files, trace_file_path
    from telemetry.trace_file import TraceNotFoundError, load_trace
    from telemetry.viewer import render_trace

    settings = Settings().with_absolute_paths()
    path = trace_file_path(settings.data_dir)
    if not existing_trace_files(path):
        hint = (
            "run a graph first (`sophia run deal_review`)"
            if settings.trace_file
            else "the span file is off: set SOPHIA_TRACE_FILE=true, then run a graph"
        )
        raise CommandError(f"no run has been traced in {settings.data_dir} yet; {hint}")
    try:
        if args.json:
            spans = load_trace(path, args.run)
            print_json({"trace_id": spans[0]["trace_id"], "spans": spans})
        else:
            render_trace(path, args.run, console=stdout_console())
    except TraceNotFoundError as exc:
        if args.run:
            raise UsageError(f"{exc}; `sophia trace` alone draws the last run") from exc
        raise CommandError(f"{exc}") from exc
    return 0
