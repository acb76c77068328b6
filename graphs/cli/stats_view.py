"""The dashboard's figures as rich tables: what ``sophia stats`` draws in the terminal.

Reads ``GET /dashboard/data`` of a running ``sophia serve`` and draws the same figures as
the page: latency per operation against its threshold, the warehouse pool, the cache,
the breakers and the recent runs. Sized for the terminal: at 80 columns no operation
name is cut, and trace ids are shown as prefixes that ``sophia trace`` accepts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from stores.errors import SophiaError

__all__ = ["StatsUnavailableError", "fetch", "render", "watch"]

TRACE_PREFIX = 12
"""Hex digits of a trace id shown in the runs table (`sophia trace` takes a prefix)."""
STATE_STYLE = {
    "closed": "green",
    "complete": "green",
    "up": "green",
    "half_open": "yellow",
    "partial": "yellow",
    "interrupted": "yellow",
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
    """`value` as plain text: whatever the server sent is shown, never read as markup."""
    return Text("-" if value is None else str(value), style=style)


def fetch(url: str, timeout_s: float = 5.0, api_key: str | None = None) -> dict[str, Any]:
    """The figures from ``{url}/dashboard/data``; StatsUnavailableError naming why not."""
    endpoint = url.rstrip("/") + "/dashboard/data"
    headers = {"x-api-key": api_key} if api_key else {}
    try:
        response = httpx.get(endpoint, timeout=timeout_s, headers=headers)
    except httpx.HTTPError as exc:
        raise StatsUnavailableError(
            f"cannot reach {endpoint} ({type(exc).__name__}: {exc}); is `sophia serve` "
            "running? Give its address with --url, or set SOPHIA_SERVE_HOST/SOPHIA_SERVE_PORT "
            "as for `sophia serve`"
        ) from exc
    if response.status_code in (401, 403):
        raise StatsUnavailableError(
            f"{endpoint} wants an API key (HTTP {response.status_code}): give one with --key, "
            "or set SOPHIA_API_KEY (`sophia keys create` makes one)"
        )
    if response.status_code != 200:
        raise StatsUnavailableError(
            f"{endpoint} answered HTTP {response.status_code}: {response.text[:200]}; is "
            "that a `sophia serve`?"
        )
    try:
        data: dict[str, Any] = response.json()
    except ValueError as exc:
        raise StatsUnavailableError(
            f"{endpoint} did not answer JSON; is that a `sophia serve`?"
        ) from exc
    return data


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=None, padding=(0, 1), expand=True)


def _operations(data: dict[str, Any]) -> Table:
    table = _table("Latency per operation (sliding window; limit = alert threshold)")
    table.add_column("operation", no_wrap=True)
    for col in ("n", "p50", "p95", "p99", "limit", "over"):
        table.add_column(col, justify="right", no_wrap=True)
    groups = {g["id"]: (i, g.get("label") or g["id"]) for i, g in enumerate(data.get("groups", []))}
    ops = sorted(
        data.get("operations", []),
        key=lambda o: (groups.get(o["group"], (99, ""))[0], o["operation"]),
    )
    current = None
    for op in ops:
        if op["group"] != current:
            current = op["group"]
            table.add_row(_t(groups.get(current, (99, current))[1], "dim"))
        over = op.get("p95") is not None and op["p95"] > op["threshold_ms"]
        table.add_row(
            _t("  " + str(op["operation"])),
            _t(op.get("count", 0)),
            _ms(op.get("p50")),
            Text(_ms(op.get("p95")), style="red" if over else ""),
            _ms(op.get("p99")),
            _ms(op.get("threshold_ms")),
            Text(str(op.get("breaches", 0)), style="red" if op.get("breaches") else ""),
        )
    return table


def _pool_and_breakers(data: dict[str, Any]) -> Table:
    wh = data.get("warehouse", {})
    table = _table("Warehouse pool and breakers")
    table.add_column("what", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
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
    table = _table(
        escape(
            f"Cache (redis {redis}, evictions {cache.get('evictions', 0)}; "
            f"hit ratio target >= {_pct(target)})"
        )
    )
    table.add_column("namespace", no_wrap=True)
    for col in ("requests", "hit ratio", "L1", "L2", "evictions"):
        table.add_column(col, justify="right", no_wrap=True)
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
    title = "Recent runs ({}; trace: a prefix `sophia trace` takes)".format(
        ", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "none yet"
    )
    table = _table(escape(title))
    table.add_column("finished", no_wrap=True)
    table.add_column("graph", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("trace", no_wrap=True)
    table.add_column("failed sources", overflow="fold", ratio=1)
    for r in runs.get("recent", [])[:limit]:
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(r["finished_at"])),
            _t(r["graph"]),
            _t(r["status"], STATE_STYLE.get(str(r["status"]), "")),
            _ms(r["duration_ms"]),
            _t((r.get("trace_id") or "-")[:TRACE_PREFIX]),
            _t(", ".join(map(str, r["failed_sources"])) or (r.get("error") or "")),
        )
    return table


def render(data: dict[str, Any], run_rows: int = 10) -> RenderableType:
    """The figures of one ``/dashboard/data`` answer as rich tables."""
    stamp = time.strftime("%H:%M:%S", time.localtime(data.get("generated_at", time.time())))
    return Group(
        Text(f"Sophia engine · {stamp}", style="bold"),
        _operations(data),
        Text(""),
        _pool_and_breakers(data),
        Text(""),
        _cache(data),
        Text(""),
        _runs(data, run_rows),
    )


def watch(
    url: str,
    interval_s: float,
    console: Console,
    *,
    emit: Callable[[dict[str, Any]], None] | None = None,
    api_key: str | None = None,
) -> int:
    """Refresh the figures every `interval_s` until interrupted (0).

    With `emit` each answer is passed to it (``--json``: one JSON line each) instead of
    being drawn; an unreachable server is reported and retried either way.
    """
    if emit is not None:
        try:
            while True:
                try:
                    emit(fetch(url, api_key=api_key))
                except StatsUnavailableError as exc:  # stdout stays JSON lines only
                    sys.stderr.write(f"error: {exc} (retrying)\n")
                time.sleep(max(0.5, interval_s))
        except KeyboardInterrupt:
            return 0
    with Live(console=console, refresh_per_second=4, screen=False) as live:
        try:
            while True:
                try:
                    live.update(render(fetch(url, api_key=api_key)))
                except StatsUnavailableError as exc:
                    live.update(_t(f"error: {exc} (retrying)", "red"))
                time.sleep(max(0.5, interval_s))
        except KeyboardInterrupt:
            return 0
