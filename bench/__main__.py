"""`sophia bench` / `python -m bench`: every before/after benchmark in one run, one table.

Each scenario module exposes ``async def run(quick: bool) -> list[BenchRow]`` and runs
the old platform's naive pattern and the engine's way on the same data in the same
process. The warehouse scenarios use the emulator (fakesnow behind the real Snowflake
connector) at its default latencies: 300 ms per login and 40 ms per query, the figures
of a remote Snowflake.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import math
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import BenchRow, print_table

# name -> (module, what it shows)
SCENARIOS: dict[str, tuple[str, str]] = {
    "connection": ("bench.connection", "connect per query vs pooled acquire"),
    "n_plus_one": ("bench.n_plus_one", "query per key vs batched load"),
    "query_latency": ("bench.query_latency", "deal review queries through pool + cache"),
    "workflow": ("bench.workflow", "agents one after another vs the parallel graph"),
    "cache": ("bench.cache", "hit ratios and tier latencies on a Zipf trace"),
    "vector_search": ("bench.vector_search", "linear scan vs HNSW"),
    "memory": ("bench.memory", "load everything vs stream / batch"),
    "load": ("bench.load", "HTTP service under 100 concurrent users"),
    "auth": ("bench.auth", "per-request cost of the key check: open vs API key vs JWT"),
    "resilience": ("bench.resilience", "fail fast while open, recovery time"),
    "tracing": ("bench.tracing", "deal review with tracing on vs off"),
    "soak": ("bench.soak", "concurrent runs with random faults: nothing lost"),
    "durable": ("bench.durable", "LangGraph SDK API vs langgraph dev; checkpoint costs"),
    "sse": ("bench.sse_writer", "event-stream writer: hand-written vs sse-starlette"),
    "startup": ("bench.startup", "CLI start-up against the interpreter and LangGraph floors"),
    "risk_detection": ("bench.risk_detection", "risk detector: precision/recall, its cost"),
    "store_api": ("bench.store_api", "store search via the API: InMemoryStore scan vs HNSW"),
    "sdk_calls": ("bench.sdk_calls", "one langgraph-sdk script: correct answers vs langgraph dev"),
    "workers": ("bench.workers", "background runs: in-process vs 1/2/4 workers vs langgraph dev"),
}
# Long or needing extra tools: run with --only NAME (soak: up to 10 minutes; durable:
# `langgraph dev` from a separate environment, see bench/durable.py).
OPT_IN = {"soak", "durable"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sophia bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small, bounded run (CI smoke test)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only these scenarios: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every row as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the table as Markdown")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="write a PNG of naive vs engine bars (needs matplotlib)",
    )
    return parser


async def _run_all(
    names: list[str], quick: bool, console: Console
) -> tuple[list[tuple[str, BenchRow]], dict[str, str]]:
    rows: list[tuple[str, BenchRow]] = []
    failures: dict[str, str] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("benchmarks", total=len(names))
        for name in names:
            module_name, what = SCENARIOS[name]
            progress.update(task, description=f"{name}: {what}")
            started = time.perf_counter()
            try:
                module = importlib.import_module(module_name)
                got = await module.run(quick)
                rows.extend((name, row) for row in got)
            except Exception as exc:  # one broken scenario must not hide the others
                failures[name] = f"{type(exc).__name__}: {exc}"
                console.print(f"[red]{name} failed[/]: {failures[name]}")
                traceback.print_exc(file=sys.stderr)
            console.log(f"{name} done in {time.perf_counter() - started:.1f}s")
            progress.advance(task)
    return rows, failures


def _markdown(rows: list[tuple[str, BenchRow]]) -> str:
    def fmt(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:,.3g}" if abs(v) < 10 else f"{v:,.1f}"

    lines = [
        "| scenario | metric | naive | engine | unit | ratio | target | met |",
        "|---|---|---:|---:|---|---:|---|---|",
    ]
    for name, r in rows:
        ratio = "-" if math.isnan(r.ratio) else f"{r.ratio:,.1f}x"
        lines.append(
            f"| {name} | {r.metric} | {fmt(r.naive)} | {fmt(r.engine)} | {r.unit} | "
            f"{ratio} | {r.target} | {'yes' if r.met else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def _plot(rows: list[tuple[str, BenchRow]], path: Path) -> None:
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit(
            "--plot needs matplotlib (a dev dependency: `uv sync` installs it)"
        ) from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paired = [
        (f"{n}: {r.metric}", r)
        for n, r in rows
        if r.unit in ("ms", "us", "s") and not math.isnan(r.naive) and r.engine > 0
    ]
    if not paired:
        return
    fig, ax = plt.subplots(figsize=(14, 0.4 * len(paired) + 1.5))
    ys = range(len(paired))
    ax.barh([y + 0.2 for y in ys], [r.naive for _, r in paired], height=0.4, label="naive")
    ax.barh([y - 0.2 for y in ys], [r.engine for _, r in paired], height=0.4, label="engine")
    ax.set_yticks(list(ys), [f"{label} ({r.unit})" for label, r in paired], fontsize=7)
    ax.set_xscale("log")
    ax.legend()
    ax.set_title("sophia bench: naive vs engine (log scale, lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios and print (and optionally write) one table."""
    args = _parser().parse_args(argv)
    # The naive side breaches the monitor's thresholds by design: keep the table readable.
    logging.getLogger("telemetry.monitoring").setLevel(logging.ERROR)
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # piped or redirected: do not squeeze the table
    names = args.only or [n for n in SCENARIOS if n not in OPT_IN]
    console.print(
        f"[bold]sophia bench[/] {'(quick) ' if args.quick else ''}on {platform.node()} "
        f"({platform.machine()}, Python {platform.python_version()}); warehouse "
        "emulator latencies: login 300 ms, query 40 ms (a remote Snowflake)"
    )
    rows, failures = asyncio.run(_run_all(names, args.quick, console))
    table_rows = [r for _, r in rows]
    for (name, _), row in zip(rows, table_rows, strict=True):
        row.metric = f"{name}: {row.metric}" if not row.metric.startswith(name) else row.metric
    print_table(table_rows, title="naive (old platform) vs engine", console=console)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "machine": platform.node(),
            "quick": args.quick,
            "failures": failures,
            "rows": [{"scenario": n, **r.as_dict()} for n, r in rows],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    if args.markdown:
        args.markdown.write_text(_markdown(rows))
    if args.plot:
        _plot(rows, args.plot)
    if failures:
        console.print(f"[red]{len(failures)} scenario(s) failed:[/] {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
