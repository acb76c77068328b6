"""``sophia serve``: the graphs over HTTP, on the address the settings name.

The port is checked before the server (and its engine) is imported and opened, so a taken
port is a one-line error at once, not after the engine has opened.
"""

from __future__ import annotations

import argparse
from typing import Any

from graphs.cli.arguments import port, positive_float, positive_int


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``serve`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the graphs over HTTP (one engine per process)",
        description="Serve the graphs over HTTP: /graphs, /graphs/NAME/invoke and /stream, "
        "the LangGraph SDK API, /healthz, /readyz, /metrics, /stats and /dashboard. "
        "`sophia stats` reads the same address from the same settings.",
    )
    parser.add_argument(
        "--host",
        default=None,
        help="the address to listen on (default SOPHIA_SERVE_HOST, else 127.0.0.1; "
        "0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--port",
        type=port,
        default=None,
        help="the port to listen on (default SOPHIA_SERVE_PORT, else 8000)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes, each with its own engine (default 1; about one per core)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow serving a non-loopback address without authentication",
    )
    parser.add_argument(
        "--grace",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, seconds running runs get to finish (default 30); the rest resume "
        "on the next start",
    )
    parser.set_defaults(handler=main)


def check_port(host: str, port: int) -> None:
    """CommandError naming the problem if nothing can listen on `host`:`port` now."""
    import socket

    from graphs.cli.output import CommandError

    advice = "stop what uses it, or choose another with --port (or SOPHIA_SERVE_PORT)"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise CommandError(
            f"cannot listen on {host}:{port}: unknown host ({exc.strerror}); check --host "
            "(or SOPHIA_SERVE_HOST)"
        ) from exc
    with socket.socket(family, kind, proto) as probe:
        # as uvicorn binds: a port left in TIME_WAIT by a stopped server is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; {advice}"
            ) from exc


def main(args: argparse.Namespace) -> int:
    """Check the address, then serve until interrupted."""
    from stores.settings import Settings

    settings = Settings()
    host = args.host or settings.serve_host
    chosen = settings.serve_port if args.port is None else args.port
    check_port(host, chosen)
    from graphs.server.app import serve

    serve(
        host=host,
        port=chosen,
        workers=args.workers,
        insecure=args.insecure,
        shutdown_grace_s=args.grace,
    )
    return 0
