"""Load test of ``sophia serve``: 100 concurrent users doing deal reviews over HTTP.

Seeds the demo warehouse (default sizes) once under a temporary data dir, starts the
HTTP service as a subprocess on a free loopback port on the embedded defaults (DuckDB
under the data dir, no Redis), and drives `users` concurrent clients, each posting
``/graphs/deal_review/invoke`` for a random demo deal in a loop, for a fixed time.
Reports throughput, latency percentiles and the error rate. The client and the server
share the machine's cores, so the figures are a floor of what the server can do.

    uv run python -m bench.load            # 30 s
    uv run python -m bench.load --quick    # 5 s
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from graphs.seeding import seed_warehouse
from stores import demo_data
from stores.settings import Settings

try:
    from bench.common import BenchRow, print_table
except ImportError:  # bench/common.py is written in parallel; keep this runnable alone

    @dataclass
    class BenchRow:  # type: ignore[no-redef]
        """One line of the results table."""

        metric: str
        naive: float
        engine: float
        unit: str
        target: str
        met: bool

    def print_table(rows: Sequence[BenchRow], title: str = "") -> None:  # type: ignore[misc]
        """Plain-text table (fallback for bench.common's rich table)."""
        print(title)
        for r in rows:
            print(f"{r.metric:<40} {r.engine:>12.2f} {r.unit:<6} {r.target:<14} "
                  f"{'met' if r.met else 'MISSED'}")  # fmt: skip


USERS = 100
TARGET_P95_MS = 200.0
STARTUP_TIMEOUT_S = 600.0


@dataclass
class Tally:
    """What the users saw: latencies of successes, and failures by kind."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


async def _user(client: httpx.AsyncClient, deal_ids: Sequence[str], deadline: float,
                tally: Tally, rng: random.Random) -> None:
    while time.monotonic() < deadline:
        payload = {"deal_ids": [rng.choice(deal_ids)]}
        started = time.perf_counter()
        try:
            response = await client.post("/graphs/deal_review/invoke", json=payload)
        except httpx.HTTPError as exc:
            tally.fail(type(exc).__name__)
            continue
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code == 200 and response.json().get("status") == "complete":
            tally.latencies_ms.append(elapsed_ms)
        else:
            tally.fail(f"HTTP {response.status_code}" if response.status_code != 200
                       else "partial result")


async def _wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {STARTUP_TIMEOUT_S:g}s")


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOPHIA_WAREHOUSE_URL", "SOPHIA_REDIS_URL")}
    env["SOPHIA_DATA_DIR"] = str(data_dir)
    code = ("from graphs.http_app import serve; "
            f"serve('127.0.0.1', {port}, log_level='warning', access_log=False)")
    return subprocess.Popen([sys.executable, "-c", code], env=env)


async def drive(base_url: str, seconds: float, users: int = USERS,
                deals: int = demo_data.DemoSizes().deals, seed: int = 1) -> tuple[Tally, float]:
    """Run `users` concurrent clients against `base_url` for `seconds`; (tally, elapsed)."""
    deal_ids = [f"D-{i:05d}" for i in range(1, deals + 1)]
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        warm = Tally()  # a short warm-up, not counted: first statements, JIT-less caches
        await asyncio.gather(*(_user(client, deal_ids, time.monotonic() + 1.0, warm,
                                     random.Random(seed + 1000 + i)) for i in range(users)))
        tally = Tally()
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(_user(client, deal_ids, deadline, tally, random.Random(seed + i))
                               for i in range(users)))
        return tally, time.monotonic() - started


async def run(quick: bool, data_dir: Path | None = None) -> list[BenchRow]:
    """Seed, serve, load for 30 s (quick: 5 s) with 100 users; the table's rows."""
    seconds = 5.0 if quick else 30.0
    with tempfile.TemporaryDirectory(prefix="sophia-load-") as tmp:
        root = data_dir or Path(tmp)
        settings = Settings(data_dir=root, warehouse_url=None, redis_url=None)
        warehouse = root / "warehouse.duckdb"
        if not warehouse.exists():
            print(f"seeding the demo warehouse under {root} ...", file=sys.stderr)
            await seed_warehouse(settings)
        port = _free_port()
        process = _start_server(root, port)
        base_url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=5) as probe:
                await _wait_ready(probe, process)
            tally, elapsed = await drive(base_url, seconds)
            async with httpx.AsyncClient(base_url=base_url, timeout=5) as probe:
                http_stats = (await probe.get("/stats")).json().get("http", {})
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    lat = tally.latencies_ms
    total = tally.requests
    error_rate = 100.0 * sum(tally.errors.values()) / total if total else math.nan
    p95 = _percentile(lat, 95)
    nan = math.nan
    rows = [
        BenchRow(f"throughput, {USERS} users, {seconds:g}s", nan, len(lat) / elapsed, "req/s",
                 "", True),
        BenchRow("latency p50", nan, _percentile(lat, 50), "ms", "", True),
        BenchRow("latency p95", nan, p95, "ms", f"< {TARGET_P95_MS:g} ms", p95 < TARGET_P95_MS),
        BenchRow("latency p99", nan, _percentile(lat, 99), "ms", "", True),
        BenchRow("latency mean", nan, statistics.fmean(lat) if lat else nan, "ms", "", True),
        BenchRow(f"error rate ({total} requests)", nan, error_rate, "%", "0 %", error_rate == 0),
    ]
    if tally.errors:
        print("errors:", tally.errors, file=sys.stderr)
    print(f"server admission figures: {http_stats}", file=sys.stderr)
    return rows


def main() -> None:
    """Command line: ``--quick`` for a 5 s run; ``--data-dir`` to reuse a seeded dir."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="seed here once and reuse (default: a temporary dir)")
    args = parser.parse_args()
    rows = asyncio.run(run(args.quick, args.data_dir))
    print_table(rows, title=f"load: {USERS} users doing deal reviews against `sophia serve`")


if __name__ == "__main__":
    main()
