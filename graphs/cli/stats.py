"""``sophia stats [--watch] [--url URL] [--json]``: a running server's figures in the terminal.

Without ``--url`` it reads the server `sophia serve` starts with the same settings
(``SOPHIA_SERVE_HOST`` / ``SOPHIA_SERVE_PORT``, default http://127.0.0.1:8000). The view
itself is `graphs.cli.stats_view`; its names are also reachable here (``fetch``,
``render``, ``StatsUnavailableError``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from graphs.cli.arguments import positive_float

if TYPE_CHECKING:
    from rich.console import Console

    from stores.settings import Settings

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``stats`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "stats",
        parents=[common],
        help="live figures of a running `sophia serve`",
        description="The dashboard's figures in the terminal: latency per operation against "
        "its threshold, the warehouse pool, the cache, the breakers and the recent runs.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=main)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--watch``, ``--url``, ``--interval`` and ``--json`` to `parser`."""
    parser.add_argument("--watch", action="store_true", help="refresh until interrupted")
    parser.add_argument(
        "--url",
        default=None,
        help="the server (default: where `sophia serve` listens with these settings, "
        "SOPHIA_SERVE_HOST/SOPHIA_SERVE_PORT, else http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--interval",
        type=positive_float,
        default=2.0,
        help="seconds between refreshes (default 2)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the figures as JSON (with --watch: one JSON line per refresh)",
    )
    parser.add_argument(
        "--key",
        default=None,
        help="an API key, when the server requires one (default: SOPHIA_API_KEY)",
    )


def server_url(settings: Settings) -> str:
    """The local URL of the server `sophia serve` starts with `settings`."""
    host = settings.serve_host
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.serve_port}"


def main(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run ``sophia stats``: 0, or StatsUnavailableError (exit 1) when the server cannot
    be read (``main`` of the CLI prints it)."""
    from graphs.cli import stats_view
    from graphs.cli.output import print_json, stdout_console

    if args.url:
        url = args.url
    else:
        from stores.settings import Settings

        url = server_url(Settings())
    from stores.settings import Settings

    console = console or stdout_console()
    as_json = bool(getattr(args, "json", False))
    configured = Settings().api_key
    key = getattr(args, "key", None) or (configured.get_secret_value() if configured else None)
    if args.watch:
        emit = (lambda data: print_json(data, compact=True)) if as_json else None
        return stats_view.watch(url, args.interval, console, emit=emit, api_key=key)
    data = stats_view.fetch(url, api_key=key)
    if as_json:
        print_json(data)
    else:
        console.print(stats_view.render(data))
    return 0


def __getattr__(name: str) -> Any:
    if name in ("fetch", "render", "watch", "StatsUnavailableError"):
        from graphs.cli import stats_view

        return getattr(stats_view, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
