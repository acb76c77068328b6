"""``sophia bench ...``: the benchmarks, run as their own program (``python -m bench``).

`bench` is not a dependency of the engine, so every option after ``bench`` is passed
through untouched (``sophia bench --help`` is bench's own help).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``bench`` to the sub-command parsers `sub` (for ``sophia --help``)."""
    parser = sub.add_parser(
        "bench",
        help="benchmarks: the old platform's way vs the engine's (`sophia bench --help`)",
        description="Run the benchmarks (python -m bench); every option is bench's own.",
        add_help=False,
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed to `python -m bench`")
    parser.set_defaults(handler=main)


def passthrough(argv: list[str]) -> int:
    """Run ``python -m bench ARGV`` and return its exit status."""
    import subprocess
    import sys

    return subprocess.call([sys.executable, "-m", "bench", *argv])


def main(args: argparse.Namespace) -> int:
    """Run the benchmarks with the options given after ``bench``."""
    return passthrough(list(args.args))
