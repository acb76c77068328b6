"""``sophia emulator``: a local Snowflake (fakesnow behind the real connector's protocol).

Serves the demo data with a configurable login and per-statement latency until
interrupted, and prints the ``SOPHIA_WAREHOUSE_URL`` that points the engine at it, on a
line of its own (never wrapped). The first stdout line, ``warehouse emulator listening:
URL``, is what scripts read (bench/emulator_process.py does); ``--json`` prints one JSON
line instead.
"""

from __future__ import annotations

import argparse
from typing import Any

from graphs.cli.arguments import non_negative_float, port, positive_float

LISTENING = "warehouse emulator listening: "


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``emulator`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "emulator",
        parents=[common],
        help="serve a local Snowflake (fakesnow) with the demo data",
        description="Serve a local Snowflake emulator (fakesnow) holding the demo data, "
        "with the latency of a remote warehouse, until interrupted. Point the engine at it "
        "with the SOPHIA_WAREHOUSE_URL it prints.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=port, default=8085, help="the port to listen on (default 8085; 0: any free)"
    )
    parser.add_argument(
        "--login-ms",
        type=non_negative_float,
        default=300.0,
        help="latency added to each login, in ms (default 300, a remote Snowflake's)",
    )
    parser.add_argument(
        "--query-ms",
        type=non_negative_float,
        default=40.0,
        help="latency added to each statement, in ms (default 40)",
    )
    parser.add_argument(
        "--scale",
        type=positive_float,
        default=None,
        help="demo data size multiplier (default SOPHIA_SEED_SCALE, 1.0)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the address as one JSON line once listening"
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Generate the demo data, serve it until interrupted; 0 on Ctrl-C."""
    import time

    from graphs.cli.output import stderr_console
    from stores.demo import data as demo_data
    from stores.demo.emulator import WarehouseEmulator
    from stores.settings import Settings

    scale = args.scale if args.scale is not None else Settings().seed_scale
    notes = stderr_console()
    notes.print(f"Generating the demo data (scale {scale:g}) ...")
    tables = demo_data.generate(demo_data.DemoSizes().scaled(scale))
    with WarehouseEmulator(
        login_ms=args.login_ms,
        query_ms=args.query_ms,
        data=tables,
        host=args.host,
        port=args.port or None,
    ) as emu:
        try:  # once serving, Ctrl-C is how it stops: exit 0
            _announce(emu.url, emu.port, args)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def _announce(url: str, port: int, args: argparse.Namespace) -> None:
    from graphs.cli.output import print_copyable, print_json, stdout_console

    if args.json:
        print_json(
            {
                "url": url,
                "host": args.host,
                "port": port,
                "login_ms": args.login_ms,
                "query_ms": args.query_ms,
            },
            compact=True,
        )
        return
    console = stdout_console()
    print_copyable(console, LISTENING + url)
    console.print(
        f"Local Snowflake (login {args.login_ms:g} ms, query {args.query_ms:g} ms). "
        "Point the engine at it with:"
    )
    print_copyable(console, f"  export SOPHIA_WAREHOUSE_URL='{url}'")
    console.print("Stop with Ctrl-C.")
