"""``sophia seed``: write the demo dataset into the embedded warehouse and index its memories."""

from __future__ import annotations

import argparse
from typing import Any

from graphs.cli.arguments import positive_float


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``seed`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "seed",
        parents=[common],
        help="write the demo dataset into the embedded warehouse",
        description="Generate the demo dataset into the DuckDB warehouse under the data dir "
        "(`sophia info` shows where) and build the memory index from it. `sophia run` does "
        "this on first use; run it again to start over or to change the size.",
    )
    parser.add_argument(
        "--scale",
        type=positive_float,
        default=None,
        help="multiply the default sizes (default SOPHIA_SEED_SCALE, 1.0: 5,000 deals, "
        "20,000 calls, 100,000 Slack messages)",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Seed the warehouse and the memory index the settings point at."""
    import asyncio

    from graphs.cli.output import line_printer, stdout_console
    from graphs.seeding.warehouse import seed_all
    from stores.settings import Settings

    settings = Settings().with_absolute_paths()
    if args.scale is not None:
        settings = settings.model_copy(update={"seed_scale": args.scale})
    asyncio.run(seed_all(settings, progress=line_printer(stdout_console())))
    return 0
