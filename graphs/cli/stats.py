"""``sophia stats [--watch] [--url URL]``: the dashboard's figures in the terminal (rich).

Reads ``GET /dashboard/data`` of a running ``sophia serve`` (default
http://127.0.0.1:8000; with ``--key``, or ``SOPHIA_API_KEY``, when it requires keys) and
draws the same figures as the page: latency per operation against its threshold, the
warehouse pool, the cache, the breakers and the recent runs. With ``--watch`` it
refreshes every ``interval`` seconds until interrupted. Every value from the server is
shown as text, never read as rich markup (a node named ``[/]`` is shown as such).

Wire-up in graphs/cli.py::

    stats = sub.add_parser("stats", help="the engine's live figures from a running server")
    graphs.cli.stats.add_arguments(stats)
    ...
    if args.command == "stats":
        return graphs.cli.stats.main(args)
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import httpx
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from stores.errors import SophiaError

__all__ = ["DEFAULT_URL", "StatsUnavailableError", "add_arguments", "fetch", "main", "render"]

DEFAULT_URL = "http://127.0.0.1:8000"
STATE_STYLE = {
    "closed": "green",
    "complete": "green",
    "up": "green",
    "half_open": "yellow",
    "partial": "yellow",
    "down": "yellow",
    "open": "bold red",
    "failed": "bold red",
}


class StatsUnavailableError(SophiaError):
    """The server did not answer ``/dashboard/data`` (not running, wrong URL, error)."""


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _t(value: Any, style: str = "") -> Text:
    """`value` as plain text: whatever it holds is shown, not interpreted as markup."""
    return Text("-" if value is None else str(value), style=style)


def fetch(
    url: str = DEFAULT_URL, timeout_s: float = 5.0, api_key: str | None = None
) -> dict[str, Any]:
    """The figures from ``{url}/dashboard/data``; StatsUnavailableError naming why not."""
    endpoint = url.rstrip("/") + "/dashboard/data"
    headers = {"x-api-key": api_key} if api_key else {}
    try:
        response = httpx.get(endpoint, timeout=timeout_s, headers=headers)
    except httpx.HTTPError as exc:
        raise StatsUnavailableError(
            f"cannot reach {endpoint} ({type(exc).__name__}: {exc}); is `sophia serve` running?"
        ) from exc
    if response.status_code != 200:
        raise StatsUnavailableError(
            f"{endpoint} answered HTTP {response.status_code}: {response.text[:200]}"
        )
    data: dict[str, Any] = response.json()
    return data


def _operations(data: dict[str, Any]) -> Table:
    table = Table(title="Latency per operation (sliding window)", expand=True)
    for col in ("group", "operation", "n", "p50", "p95", "p99", "threshold", "breaches"):
        table.add_column(col, justify="left" if col in ("group", "operation") else "right")
    order = {g["id"]: i for i, g in enumerate(data.get("groups", []))}
    ops = sorted(
        data.get("operations", []), key=lambda o: (order.get(o["group"], 99), o["operation"])
    )
    for op in ops:
        over = op.get("p95") is not None and op["p95"] > op["threshold_ms"]
        style = "red" if over else ""
        table.add_row(
            _t(op["group"]),
            _t(op["operation"]),
            _t(op.get("count", 0)),
            _ms(op.get("p50")),
            Text(_ms(op.get("p95")), style=style),
            _ms(op.get("p99")),
            _ms(op.get("threshold_ms")),
            Text(str(op.get("breaches", 0)), style="red" if op.get("breaches") else ""),
        )
    return table


def _pool_and_breakers(data: dict[str, Any]) -> Table:
    wh = data.get("warehouse", {})
    table = Table(title="Warehouse pool and breakers", expand=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    util = wh.get("utilisation", 0.0)
    target = wh.get("utilisation_target", 0.8)
    table.add_row("pool size / max", _t(f"{wh.get('size', '-')} / {wh.get('max_size', '-')}"))
    table.add_row(
        "in use / idle / waiters",
        _t(f"{wh.get('in_use')} / {wh.get('idle')} / {wh.get('waiting')}"),
    )
    table.add_row(
        f"utilisation (target < {_pct(target)})",
        Text(_pct(util), style="green" if util < target else "red"),
    )
    for b in data.get("breakers", []):
        changed = b.get("state_changed_at")
        when = time.strftime("%H:%M:%S", time.localtime(changed)) if changed else "-"
        table.add_row(
            _t(f"breaker {b['name']} (since {when})"),
            _t(b["state"], STATE_STYLE.get(str(b["state"]), "")),
        )
    return table


def _cache(data: dict[str, Any]) -> Table:
    cache = data.get("cache") or {}
    redis = (cache.get("redis") or {}).get("state", "disabled")
    target = cache.get("hit_ratio_target", 0.85)
    table = Table(
        title=escape(f"Cache (redis {redis}, evictions {cache.get('evictions', 0)})"),
        expand=True,
    )
    for col in ("namespace", "requests", f"hit ratio (>= {_pct(target)})", "L1", "L2", "evictions"):
        table.add_column(col, justify="left" if col == "namespace" else "right")
    for ns in cache.get("namespaces", []):
        ok = ns["hit_ratio"] >= target
        table.add_row(
            _t(ns["namespace"]),
            _t(ns["requests"]),
            Text(_pct(ns["hit_ratio"]), style="green" if ok else "red"),
            _pct(ns["l1_hit_ratio"]),
            _pct(ns["l2_hit_ratio"]),
            _t(ns["evictions"]),
        )
    return table


def _runs(data: dict[str, Any], limit: int) -> Table:
    runs = data.get("runs", {})
    totals = runs.get("totals", {})
    title = "Recent runs ({})".format(", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    table = Table(title=escape(title), expand=True)
    for col in ("finished", "graph", "status", "duration", "failed sources", "trace"):
        table.add_column(col)
    for r in runs.get("recent", [])[:limit]:
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(r["finished_at"])),
            _t(r["graph"]),
            _t(r["status"], STATE_STYLE.get(str(r["status"]), "")),
            _ms(r["duration_ms"]),
            _t(", ".join(map(str, r["failed_sources"])) or (r.get("error") or "")),
            _t(r.get("trace_id")),
        )
    return table


def render(data: dict[str, Any], run_rows: int = 10) -> RenderableType:
    """The figures of one ``/dashboard/data`` answer as rich tables."""
    stamp = time.strftime("%H:%M:%S", time.localtime(data.get("generated_at", time.time())))
    return Group(
        Text(f"Sophia engine · {stamp}", style="bold"),
        _operations(data),
        _pool_and_breakers(data),
        _cache(data),
        _runs(data, run_rows),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--watch``, ``--url`` and ``--interval`` to the ``stats`` sub-command."""
    parser.add_argument("--watch", action="store_true", help="refresh until interrupted")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the server (default {DEFAULT_URL})")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    parser.add_argument(
        "--key", default=None, help="an API key (default: SOPHIA_API_KEY), if the server needs one"
    )


def main(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run ``sophia stats``; exit status 0, or 1 when the server cannot be read."""
    console = console or Console()
    key = getattr(args, "key", None) or os.environ.get("SOPHIA_API_KEY")
    if not args.watch:
        try:
            console.print(render(fetch(args.url, api_key=key)))
        except StatsUnavailableError as exc:
            console.print(Text("error: ", style="red") + _t(exc))
            return 1
        return 0
    with Live(console=console, refresh_per_second=4, screen=False) as live:
        try:
            while True:
                try:
                    live.update(render(fetch(args.url, api_key=key)))
                except StatsUnavailableError as exc:
                    live.update(Text(f"error: {exc} (retrying)", style="red"))
                time.sleep(max(0.5, args.interval))
        except KeyboardInterrupt:
            return 0
