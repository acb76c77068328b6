"""The `sophia` command line: parse first, import the engine only for commands that run it.

Each command group lives in its own module (`graphs.cli.run`, `graphs.cli.threads`, ...)
with a ``register(sub, common)`` that adds its parser and sets ``handler``. Those modules
import nothing heavy at module level, so ``sophia --help``, every command's ``--help``
and argument errors cost an interpreter start plus argparse, not LangGraph's import.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import NoReturn

from graphs.cli import (
    bench,
    emulator,
    graph_list,
    info,
    keys,
    run,
    seed,
    serve,
    stats,
    threads,
    trace,
    worker,
)

OPERATOR_LOGGERS = (
    "telemetry.monitoring",  # slow operations
    "stores.resilience",  # breaker state changes
    "stores.cache",  # Redis fallbacks
    "stores.warehouse.loader",
    "stores.memory.embeddings",
    "nodes.isolation",  # a failed branch: the run's own output names it, with what to check
    "py.warnings",
    "snowflake.connector",  # the driver's retries; the error that ends them is printed
)
"""Loggers whose warnings are for whoever operates a server, not for a person at the CLI:
below ERROR they show only with ``-v`` (``sophia serve`` always logs them)."""

COMMANDS = (
    run, graph_list, threads, seed, info, trace, stats, serve, worker, keys, emulator, bench
)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit status 2) that says where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def build_parser() -> Parser:
    """The `sophia` parser with every command group registered."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="show the log: -v for INFO and operator warnings (slow operations, breakers), "
        "-vv for DEBUG",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the traceback of an error",
    )
    parser = Parser(
        prog="sophia",
        description="Sophia workflow engine: run deal reviews and other graphs, serve them "
        "over HTTP, look at their traces.",
        epilog="`sophia COMMAND --help` describes a command. `sophia info` shows where the "
        "data, the warehouse and the services are.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub, common)
    return parser


class _OperatorFilter(logging.Filter):
    """Drops operator warnings (below ERROR) from the CLI's log output."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        return not any(
            record.name == name or record.name.startswith(name + ".") for name in OPERATOR_LOGGERS
        )


@contextlib.contextmanager
def cli_logging(verbosity: int, *, operator_warnings: bool) -> Iterator[None]:
    """Log to stderr for one command: WARNING by default, INFO with -v, DEBUG with -vv.

    Without -v, `OPERATOR_LOGGERS` below ERROR are left out unless `operator_warnings`.
    Python warnings go to the log too. The root logger is restored afterwards.
    """
    root = logging.getLogger()
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not operator_warnings and verbosity == 0:
        handler.addFilter(_OperatorFilter())
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sophia` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return bench.passthrough(argv[1:])
    args = build_parser().parse_args(argv)
    # -v/--debug may come before or after the command (the parsers share their actions,
    # so their default stays "unset" rather than 0 on one of them)
    verbosity, debug = getattr(args, "verbose", 0), getattr(args, "debug", False)
    with cli_logging(verbosity, operator_warnings=args.command in ("serve", "worker")):
        try:
            return int(args.handler(args))
        except (Exception, KeyboardInterrupt) as exc:
            from graphs.cli.output import exit_code, print_error

            if debug:
                traceback.print_exc()
            if isinstance(exc, KeyboardInterrupt):
                sys.stderr.write("interrupted\n")
            else:
                print_error(exc)
            return exit_code(exc)


def script() -> NoReturn:
    """The `sophia` console script: `main()` on the process's arguments, then exit with
    its status, skipping the collector's passes over the heap at interpreter shutdown."""
    status = main()
    # Shutdown runs the cyclic collector over every module's objects as it tears them down:
    # ~0.4 s on a 2-core machine once LangGraph is imported (langsmith's and pydantic's
    # types), for a process about to end. Frozen objects are not traversed. What the command
    # opened is closed by now; atexit handlers and reference-counted clean-up still run.
    gc.freeze()
    raise SystemExit(status)


if __name__ == "__main__":
    script()
