"""Building the memory index off the critical path: in a process of its own, with progress.

The first run on a fresh data dir seeds the warehouse (seconds) and starts this builder
instead of waiting for the index (tens of seconds): ``python -m graphs.seeding.memory_build
DATA_DIR``. It writes its progress to ``<data dir>/memory/BUILDING`` (JSON: pid, items
done and in all, when it started and last wrote) and removes that file once the index is
published (the snapshot's ``CURRENT``); an engine that opens meanwhile reports the index
as building (`graphs.engine.memory_index`) and picks it up when it appears. A builder that
fails writes its error into the file instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from graphs.seeding.memory import memory_path, seed_memory

STATUS_FILE = "BUILDING"


@dataclass(frozen=True)
class BuildStatus:
    """What a builder last wrote: its process, how far it is, and its error if it failed."""

    pid: int
    started: float
    updated: float
    done: int = 0
    total: int | None = None
    error: str | None = None

    @property
    def fraction(self) -> float | None:
        """Done over total (None before the total is known)."""
        return None if not self.total else min(1.0, self.done / self.total)

    def alive(self) -> bool:
        """Whether the builder's process still runs (and has not failed)."""
        if self.error is not None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def status_path(data_dir: Path) -> Path:
    """Where a builder writes its progress."""
    return memory_path(data_dir) / STATUS_FILE


def read_status(data_dir: Path) -> BuildStatus | None:
    """The builder's last progress under `data_dir`, or None when no build was started."""
    try:
        raw = json.loads(status_path(data_dir).read_text(encoding="utf-8"))
        return BuildStatus(**raw)
    except (OSError, ValueError, TypeError):
        return None


def write_status(data_dir: Path, status: BuildStatus) -> None:
    """Replace the progress file atomically (readers never see half a write)."""
    path = status_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{STATUS_FILE}-{os.getpid()}")
    tmp.write_text(json.dumps(asdict(status)), encoding="utf-8")
    os.replace(tmp, path)


def start_background_build(data_dir: Path, warehouse_url: str) -> int:
    """Start a builder process for `data_dir` that outlives the caller; its pid.

    Its output goes to ``<data dir>/memory/build.log``. A builder already running for the
    data dir is left alone (its pid is returned).
    """
    running = read_status(data_dir)
    if running is not None and running.alive():
        return running.pid
    log_path = memory_path(data_dir) / "build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "graphs.seeding.memory_build", str(data_dir),
             "--warehouse-url", warehouse_url],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,  # not the caller's: a CLI that exits leaves it running
        )  # fmt: skip
    now = time.time()
    write_status(data_dir, BuildStatus(pid=process.pid, started=now, updated=now))
    return process.pid


async def build(data_dir: Path, warehouse_url: str) -> int:
    """Build the index under `data_dir` from the warehouse, writing progress; items indexed."""
    from stores.settings import Settings

    settings = Settings(data_dir=data_dir, warehouse_url=warehouse_url)
    started = time.time()
    status = BuildStatus(pid=os.getpid(), started=started, updated=started)
    write_status(data_dir, status)

    def progress(done: int, total: int) -> None:
        write_status(data_dir, BuildStatus(os.getpid(), started, time.time(), done, total))

    try:
        count = await seed_memory(settings, on_progress=progress)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        failed = BuildStatus(os.getpid(), started, time.time(), error=error)
        write_status(data_dir, failed)
        raise
    with contextlib.suppress(FileNotFoundError):
        status_path(data_dir).unlink()
    return count


def main(argv: list[str] | None = None) -> int:
    """``python -m graphs.seeding.memory_build DATA_DIR --warehouse-url URL``."""
    parser = argparse.ArgumentParser(prog="python -m graphs.seeding.memory_build")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--warehouse-url", required=True)
    args = parser.parse_args(argv)
    count = asyncio.run(build(args.data_dir, args.warehouse_url))
    print(f"indexed {count:,} memories", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
