"""The `sophia` command line: run graphs, seed the demo data, look at traces, benchmark."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from graphs.cli import keys as cli_keys
from graphs.cli import stats as stats_view
from graphs.cli import threads as cli_durable
from stores.errors import SophiaError
from stores.settings import Settings

console = Console()
err_console = Console(stderr=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sophia", description="Sophia workflow engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a graph and print its report")
    run.add_argument("graph", help="graph name (see `sophia graphs`)")
    run.add_argument(
        "--deal",
        dest="deals",
        action="append",
        metavar="ID",
        help="a deal id to review (repeat for several; default: the demo deal)",
    )
    run.add_argument("--input", help="the graph's input as a JSON object (instead of --deal)")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument(
        "--thread",
        metavar="ID",
        help="run durably on this thread (checkpointed; resumable with `sophia resume`)",
    )

    sub.add_parser("graphs", help="list the registered graphs and their inputs")

    seed = sub.add_parser("seed", help="write the demo dataset into the embedded warehouse")
    seed.add_argument(
        "--scale",
        type=float,
        default=None,
        help="multiply the default sizes (default 1.0: 5,000 deals, ...)",
    )

    serve = sub.add_parser("serve", help="serve the graphs over HTTP (one engine per process)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, each with its own engine (default 1; about one per core)",
    )
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow serving a non-loopback address without authentication",
    )
    serve.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, seconds running runs get to finish (default 30); the rest resume "
        "on the next start",
    )

    cli_durable.add_commands(sub)
    cli_keys.add_commands(sub)

    stats = sub.add_parser("stats", help="live figures of a running `sophia serve`")
    stats_view.add_arguments(stats)

    trace = sub.add_parser("trace", help="draw a run's spans as a waterfall (local trace file)")
    trace.add_argument("run", nargs="?", help="run id or trace id (default: the last run)")

    emu = sub.add_parser("emulator", help="serve a local Snowflake (fakesnow) with the demo data")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8085)
    emu.add_argument("--login-ms", type=float, default=300.0)
    emu.add_argument("--query-ms", type=float, default=40.0)
    emu.add_argument("--scale", type=float, default=None, help="demo data size multiplier")

    bench = sub.add_parser("bench", help="benchmarks: the old platform's way vs the engine's")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed to `python -m bench`")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sophia` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # `bench` is not a dependency of the engine: run it as its own program, passing
        # every option through (argparse would try to read them here).
        return subprocess.call([sys.executable, "-m", "bench", *argv[1:]])
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "graphs":
            return _graphs()
        if args.command == "seed":
            return asyncio.run(_seed(args))
        if args.command == "serve":
            from graphs.server.app import serve

            serve(host=args.host, port=args.port, workers=args.workers,
                  insecure=args.insecure, shutdown_grace_s=args.grace)  # fmt: skip
            return 0
        if args.command == cli_keys.COMMAND:
            return asyncio.run(cli_keys.run_command(args))
        if args.command in cli_durable.COMMANDS:
            return asyncio.run(cli_durable.run_command(args))
        if args.command == "stats":
            return stats_view.main(args)
        if args.command == "trace":
            return _trace(args)
        if args.command == "emulator":
            return _emulator(args)
    except SophiaError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


async def _run(args: argparse.Namespace) -> int:
    from graphs.engine.engine import Engine

    if args.input and args.deals:
        raise SophiaError("give either --deal or --input, not both")
    payload: Any = (
        json.loads(args.input) if args.input else ({"deal_ids": args.deals} if args.deals else {})
    )
    say = err_console.print if args.json else console.print
    async with Engine.from_env(auto_seed=True, on_seed=say, configure_telemetry=True) as engine:
        result = await engine.invoke(args.graph, payload, thread_id=args.thread)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        from graphs.cli.report import print_result

        print_result(console, args.graph, result, jaeger_url=_jaeger_url(result["trace_id"]))
    return 0


def _jaeger_url(trace_id: str | None) -> str | None:
    if not trace_id or not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    base = os.environ.get("SOPHIA_JAEGER_UI", "http://localhost:16686")
    return f"{base.rstrip('/')}/trace/{trace_id}"


def _graphs() -> int:
    from graphs.engine.engine import default_registry

    table = Table(title="Registered graphs")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("input")
    for spec in default_registry():
        props = spec.input_schema().get("properties", {})
        table.add_row(
            spec.name,
            spec.description,
            ", ".join(f"{k}: {v.get('type', 'any')}" for k, v in props.items()),
        )
    console.print(table)
    return 0


async def _seed(args: argparse.Namespace) -> int:
    from graphs.seeding.warehouse import seed_all

    settings = Settings()
    if args.scale is not None:
        settings = settings.model_copy(update={"seed_scale": args.scale})
    await seed_all(settings, progress=console.print)
    return 0


def _trace(args: argparse.Namespace) -> int:
    from telemetry.viewer import TraceNotFoundError, render_trace

    path = Settings().data_dir / "traces.jsonl"
    if not path.exists():
        raise SophiaError(f"no local trace file at {path}: run a graph first (`sophia run ...`)")
    try:
        render_trace(path, args.run, console=console)
    except TraceNotFoundError as exc:
        raise SophiaError(str(exc)) from exc
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from stores.demo import data as demo_data
    from stores.demo.emulator import run_emulator_forever

    scale = args.scale if args.scale is not None else Settings().seed_scale
    console.print(f"Generating the demo data (scale {scale}) ...")
    tables = demo_data.generate(demo_data.DemoSizes().scaled(scale))
    console.print(
        f"Local Snowflake on http://{args.host}:{args.port} (login {args.login_ms:g} ms, "
        f"query {args.query_ms:g} ms). Point the engine at it with:\n"
        f"  SOPHIA_WAREHOUSE_URL='snowflake://fake:snow@emulator/SOPHIA/PUBLIC?host={args.host}"
        f"&port={args.port}&protocol=http'"
    )
    run_emulator_forever(args.host, args.port, args.login_ms, args.query_ms, tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
