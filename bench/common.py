"""Shared bench helpers: one result row type, one table printer, one standalone runner.

Every bench module exposes ``async def run(quick: bool) -> list[BenchRow]``: it runs the
old platform's naive pattern and the engine's way on the same data in one process and
returns one `BenchRow` per metric. `print_table` renders them; `main` runs one module's
``run`` from the command line (``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class BenchRow:
    """One measured metric: the naive value, the engine's value, and the target.

    ``naive`` is NaN when there is no naive side (a plain measurement). ``ratio`` is
    ``naive / engine`` (how many times better the engine is for a time-like unit).
    ``met`` says whether the engine meets ``target`` (a human-readable goal).
    """

    metric: str
    naive: float
    engine: float
    unit: str = "ms"
    target: str = ""
    met: bool = True

    @property
    def ratio(self) -> float:
        """``naive / engine``; NaN if either side is missing or the engine's value is 0."""
        if math.isnan(self.naive) or math.isnan(self.engine) or self.engine == 0:
            return math.nan
        return self.naive / self.engine

    def as_dict(self) -> dict[str, Any]:
        """The row with its ratio, for JSON output."""
        return {**asdict(self), "ratio": self.ratio}


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3g}"


def print_table(rows: Sequence[BenchRow], title: str = "", console: Console | None = None) -> None:
    """Print ``rows`` as a rich table: metric, naive, engine, unit, ratio, target, met."""
    table = Table(title=title or None)
    for name in ("metric", "naive", "engine", "unit", "ratio", "target", "met"):
        table.add_column(name, justify="right" if name in ("naive", "engine", "ratio") else "left")
    for row in rows:
        ratio = "-" if math.isnan(row.ratio) else f"{row.ratio:,.1f}x"
        met = "[green]yes[/green]" if row.met else "[red]NO[/red]"
        table.add_row(
            row.metric, _fmt(row.naive), _fmt(row.engine), row.unit, ratio, row.target, met
        )
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=140)  # piped output: do not squeeze the columns
    console.print(table)


async def timed_ms(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Run ``fn()`` once; return (elapsed milliseconds, its result)."""
    started = time.perf_counter()
    result = await fn()
    return (time.perf_counter() - started) * 1000, result


def main(run: Callable[[bool], Coroutine[Any, Any, list[BenchRow]]], title: str) -> None:
    """Command-line entry for one bench module: ``python -m bench.X [--quick]``."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--quick", action="store_true", help="smaller, bounded run")
    args = parser.parse_args()
    rows = asyncio.run(run(args.quick))
    print_table(rows, title=title)


@contextlib.asynccontextmanager
async def postgres_schema(base_url: str, *, application_name: str = "") -> AsyncIterator[str]:
    """A fresh schema on `base_url`, dropped afterwards (also on failure); yields a URL
    whose connections use it (and carry `application_name`, when given)."""
    import psycopg
    from psycopg import sql

    schema = f"sophia_bench_{uuid.uuid4().hex[:10]}"
    name = sql.Identifier(schema)
    async with await psycopg.AsyncConnection.connect(base_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    try:
        yield f"{url}&application_name={application_name}" if application_name else url
    finally:
        for attempt in range(5):
            try:
                async with await psycopg.AsyncConnection.connect(base_url, autocommit=True) as c:
                    await c.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(name))
                break
            except psycopg.errors.InternalError:  # another session's DDL on the catalogue
                if attempt == 4:
                    raise
                await asyncio.sleep(1)
