"""What an open dashboard costs the service: the load test with and without a poller.

Starts ``sophia serve``'s app (graphs.server.app) with the dashboard routes mounted, as a
subprocess on a free loopback port, and drives bench.load's users (deal reviews over
HTTP) in alternating phases: without a dashboard, then with a poller fetching
``/dashboard/data`` every second (what an open page does, a bit more often), repeated
``rounds`` times in ABBA order after an uncounted warm-up, so drift of the shared machine
hits both sides. Prints the p95 of each side and the ratio (target: within 10%).

    uv run python -m bench.dashboard_cost                 # 50 users, 10 s per phase, 2 rounds
    uv run python -m bench.dashboard_cost --data-dir /tmp/sophia-bench   # reuse a seeded dir
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bench.load import Tally, drive
from graphs.seeding.warehouse import seed_warehouse
from stores.demo.local_redis import free_port
from stores.settings import Settings

USERS = 50
PHASE_S = 10.0
POLL_S = 1.0
TARGET_RATIO = 1.10

_SERVER = """
import asyncio
import logging
import uvicorn
from graphs.engine.engine import Engine
from graphs.server.app import create_app
from stores.settings import Settings

logging.getLogger("telemetry.monitoring").setLevel(logging.ERROR)  # no breach warnings


async def main():
    async with Engine(Settings(), auto_seed=True, configure_telemetry=True) as engine:
        # A full run log, so each /dashboard/data answer carries as many runs as in production.
        for i in range(200):
            engine.run_book.record(
                "deal_review", f"{{i:032x}}", "partial" if i % 7 else "complete", 12.5,
                trace_id=f"{{i:032x}}", failed=["slack"] if i % 7 else [],
            )
        app = create_app(engine=engine)
        config = uvicorn.Config(app, host="127.0.0.1", port={port}, log_level="warning",
                                access_log=False)
        await uvicorn.Server(config).serve()


asyncio.run(main())
"""


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the definition bench.load uses)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


async def _wait_ready(process: subprocess.Popen[bytes], base_url: str) -> None:
    deadline = time.monotonic() + 600
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode}")
            try:
                if (await client.get("/dashboard/data")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start within 600 s")


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("SOPHIA_WAREHOUSE_URL", "SOPHIA_REDIS_URL")
    }
    env["SOPHIA_DATA_DIR"] = str(data_dir)
    return subprocess.Popen([sys.executable, "-c", _SERVER.format(port=port)], env=env)


@contextlib.asynccontextmanager
async def poller(base_url: str, every_s: float) -> AsyncIterator[list[float]]:
    """Fetch /dashboard/data every `every_s` seconds while the block runs; yields the
    list the fetch latencies (ms) are appended to."""
    latencies: list[float] = []

    async def loop() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            while True:
                started = time.perf_counter()
                response = await client.get("/dashboard/data")
                response.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(max(0.0, every_s - (time.perf_counter() - started)))

    task = asyncio.create_task(loop())
    try:
        yield latencies
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _idle_fetch_ms(base_url: str, n: int = 5) -> float:
    """Median time of /dashboard/data with no other traffic (spaced past the shared
    answer's lifetime, so each one is computed)."""
    times = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _ in range(n):
            await asyncio.sleep(1.1)
            started = time.perf_counter()
            (await client.get("/dashboard/data")).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def run(
    users: int, seconds: float, rounds: int, data_dir: Path | None, think_s: tuple[float, float]
) -> int:
    """Alternate phases without/with the poller; print the p95s and the ratio.

    Returns 0 when the ratio is within the target, 1 otherwise."""
    with tempfile.TemporaryDirectory(prefix="sophia-dash-") as tmp:
        root = data_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "warehouse.duckdb").exists():
            print(f"seeding the demo warehouse under {root} ...", file=sys.stderr)
            await seed_warehouse(Settings(data_dir=root, warehouse_url=None, redis_url=None))
        port = free_port()
        process = _start_server(root, port)
        base_url = f"http://127.0.0.1:{port}"
        p95s: dict[str, list[float]] = {"without": [], "with": []}
        tallies: dict[str, Tally] = {"without": Tally(), "with": Tally()}
        fetches: list[float] = []
        try:
            await _wait_ready(process, base_url)
            idle_before = await _idle_fetch_ms(base_url)
            # Not counted: the first seconds carry cold caches and first statements.
            await drive(base_url, seconds, users=users, think_s=think_s, seed=99)
            for r in range(rounds):
                # ABBA order, so drift of the shared machine does not favour one side.
                order = ("without", "with") if r % 2 == 0 else ("with", "without")
                for side in order:
                    if side == "with":
                        async with poller(base_url, POLL_S) as seen:
                            tally, _ = await drive(
                                base_url, seconds, users=users, think_s=think_s, seed=r
                            )
                        fetches.extend(seen)
                    else:
                        tally, _ = await drive(
                            base_url, seconds, users=users, think_s=think_s, seed=r
                        )
                    p95 = _percentile(tally.latencies_ms, 95)
                    p95s[side].append(p95)
                    tallies[side].latencies_ms.extend(tally.latencies_ms)
                    for kind, n in tally.errors.items():
                        tallies[side].errors[kind] = tallies[side].errors.get(kind, 0) + n
                    print(
                        f"round {r + 1} {side:>7} dashboard: {len(tally.latencies_ms):6d} ok, "
                        f"p95 {p95:7.1f} ms, errors {dict(tally.errors)}",
                        file=sys.stderr,
                    )
            idle_after = await _idle_fetch_ms(base_url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    without = _percentile(tallies["without"].latencies_ms, 95)
    with_dash = _percentile(tallies["with"].latencies_ms, 95)
    ratio = with_dash / without
    mode = f"think {think_s[0]:g}-{think_s[1]:g} s" if think_s[1] else "closed loop"
    print(
        f"dashboard cost: {users} users ({mode}), {rounds} x {seconds:g} s per side, "
        f"poll every {POLL_S:g} s"
    )
    print(f"  p95 without dashboard  {without:8.1f} ms  (per round {p95s['without']})")
    print(f"  p95 with dashboard     {with_dash:8.1f} ms  (per round {p95s['with']})")
    print(f"  ratio with / without   {ratio:8.3f}   (target <= {TARGET_RATIO:.2f})")
    print(
        f"  /dashboard/data idle: median {idle_before:.1f} ms before the load, "
        f"{idle_after:.1f} ms after (full monitor windows)"
    )
    if fetches:
        print(
            f"  /dashboard/data under load: {len(fetches)} fetches, "
            f"median {statistics.median(fetches):.1f} ms, max {max(fetches):.1f} ms"
        )
    return 0 if ratio <= TARGET_RATIO else 1


def main() -> None:
    """Command line: ``--users``, ``--seconds`` per phase, ``--rounds``, ``--data-dir``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--seconds", type=float, default=PHASE_S)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("MIN", "MAX"),
        help="seconds each user waits between requests (default 0 0: closed loop)",
    )
    args = parser.parse_args()
    think = (args.think[0], args.think[1])
    sys.exit(asyncio.run(run(args.users, args.seconds, args.rounds, args.data_dir, think)))


if __name__ == "__main__":
    main()
