"""Background runs: `sophia serve` in-process vs queued on 1, 2, 4 `sophia worker`s, and
`langgraph dev`, under the same load.

The load: 200 deal reviews (quick: 10), each on a thread of its own (threads made first,
untimed), created with ``runs.create`` by 10 concurrent `langgraph_sdk` clients, then
joined (``runs.join``). Per configuration: runs/s (first create to the last run's
completion), p50/p95 of enqueue -> complete per run (the run record's ``created_at`` ->
``updated_at`` of its final status, from ``runs.get``: the same for both servers), runs
failed (a failed call or a final status other than ``success``), joins that answered
before their run had ended (the bench then polls ``runs.get`` until it ends), and where
the time went (`bench.worker_usage`: CPU per process group, warehouse statements counted
by a proxy in front of the emulator (`bench.warehouse_proxy`), Postgres rows written and
Redis commands per run; rows only in a full run, they need 2 x 11 s to settle). Before
the load, the in-process and 1-worker configurations (and `langgraph dev`) review 30
deals one at a time (quick: 5): the queue's added latency at light load, also as each
run's time outside its execution (create -> join answered minus the record's
``duration_ms``), which the executions' own noise does not blur.

Every process reads the same warehouse: `sophia emulator` (scale 0.05: 250 deals, each
run reviews a deal of its own; 300 ms per login, 40 ms per statement) in a process of its
own. Each configuration gets fresh processes, a fresh Postgres schema on 127.0.0.1:5432
(``SOPHIA_BENCH_POSTGRES_URL``; dropped after) and the bench's private redis-server,
flushed (cold caches). Workers run ``--concurrency 8`` (the default; a review waits on
the warehouse most of its time, so 8 per process keep 2 cores busy); the in-process
server executes up to 64 runs at once; `langgraph dev` (from its own environment with
this project installed, ``pip install "langgraph-cli[inmem]" -e .``, found as in
`bench.durable`; serving ``graphs/langgraph_entry.py``) ``--n-jobs-per-worker 32``, as
many as 4 workers. Without Postgres or redis-server the scenario gives no rows.

    python -m bench.workers [--quick]     # quick: 10 runs; in-process and 1 worker
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import BenchRow
from bench.durable import _langgraph_dev
from bench.emulator_process import emulator_process
from bench.warehouse_proxy import StatementCounter
from bench.worker_cluster import (
    PG_DEFAULT,
    Processes,
    flush_redis,
    postgres_schema,
    start_langgraph_dev,
    start_sophia,
)
from bench.worker_rows import Load, Measured, rows_of
from bench.worker_usage import Usage, child_pid

GRAPH = "deal_review"
SCALE = 0.05  # 250 deals: warm-up (<= 8), light load (30) and load (200) get their own
CONCURRENCY = 8
LANGGRAPH_DEV_JOBS = 32
SETTLE_S = 11.0  # an idle Postgres backend reports its table counts within 10 s
JOIN_DEADLINE_S = 300.0
UNFINISHED = ("pending", "running")


@dataclass
class Side:
    """One configuration: `workers` None is `langgraph dev`, 0 runs in-process."""

    label: str
    workers: int | None
    light: bool


def _deals(first: int, n: int) -> list[str]:
    return [f"D-{i:05d}" for i in range(first, first + n)]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def _bounded(clients: int, n: int, job: Callable[[int, int], Awaitable[None]]) -> None:
    """`job(client, i)` for i in range(n), `clients` at a time (client: which one)."""
    items = iter(range(n))

    async def loop(c: int) -> None:
        for i in items:
            await job(c, i)

    await asyncio.gather(*(loop(c) for c in range(clients)))


async def drive(url: str, deals: list[str], clients: int) -> Load:
    """One background review per deal (see the module docstring): the runs' enqueue ->
    complete latencies (ms), runs/s, errors, and joins that answered before their run
    had ended (the bench then polls the run until it ends)."""
    from langgraph_sdk import get_client

    users = [get_client(url=url, timeout=300) for _ in range(clients)]
    n = len(deals)
    threads: list[str] = [""] * n
    runs: list[str | None] = [None] * n
    errors = early = 0

    async def make_thread(c: int, i: int) -> None:
        threads[i] = (await users[c].threads.create())["thread_id"]

    async def create(c: int, i: int) -> None:
        nonlocal errors
        try:
            review: dict[str, Any] = {"deal_ids": [deals[i]]}
            sent[i] = time.time()
            made = await users[c].runs.create(threads[i], GRAPH, input=review)
            runs[i] = made["run_id"]
        except Exception as exc:
            errors += 1
            print(f"runs.create failed: {exc!r}", file=sys.stderr)

    async def join(c: int, i: int) -> None:
        nonlocal errors, early
        run_id = runs[i]
        if run_id is None:
            return
        try:
            await users[c].runs.join(threads[i], run_id)
            joined[i] = time.time()
            run: Any = await users[c].runs.get(threads[i], run_id)
            if run["status"] in UNFINISHED:  # join answered too soon: wait for the end
                early += 1
                deadline = time.monotonic() + JOIN_DEADLINE_S
                while run["status"] in UNFINISHED and time.monotonic() < deadline:
                    await asyncio.sleep(0.25)
                    run = await users[c].runs.get(threads[i], run_id)
            if run["status"] != "success":
                raise RuntimeError(f"status {run['status']}")
            done[i] = (_epoch(run["created_at"]), _epoch(run["updated_at"]))
        except Exception as exc:
            errors += 1
            print(f"run {run_id} failed: {exc!r}", file=sys.stderr)

    done: list[tuple[float, float] | None] = [None] * n
    sent, joined = [math.nan] * n, [math.nan] * n
    try:
        await _bounded(clients, n, make_thread)
        began = time.time()
        await _bounded(clients, n, create)
        await _bounded(clients, n, join)
    finally:
        for user in users:
            await user.aclose()
    finished = [d for d in done if d is not None]
    latencies = [(end - start) * 1000 for start, end in finished]
    last = max((end for _, end in finished), default=math.nan)
    rate = len(finished) / (last - began) if finished else 0.0
    seen = {r: (j - s) * 1000 for r, s, j, d in zip(runs, sent, joined, done, strict=True)
            if r and d}  # fmt: skip
    return Load(latencies, rate, errors, early, [r for r in runs if r], seen)


async def one_at_a_time(url: str, deals: list[str]) -> Load:
    """`drive` with one client and one run at a time, the runs' results together."""
    total = Load()
    for deal in deals:
        got = await drive(url, [deal], 1)
        if got.errors or got.early_joins:
            raise RuntimeError(f"a light-load review of {deal} failed")
        total.latencies += got.latencies
        total.run_ids += got.run_ids
        total.client_ms.update(got.client_ms)
    return total


async def overheads_ms(postgres_url: str, load: Load) -> tuple[list[float], list[float]]:
    """Per run of `load`: how long it waited between its record's creation and the start
    of its execution, and everything but its execution (create call -> join answered
    minus the execution's duration), in ms, from the run records."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cur = await conn.execute(
            "SELECT run_id, (finished_at - created_at) * 1000 - duration_ms, duration_ms"
            " FROM sophia_runs WHERE run_id = ANY(%s) AND duration_ms IS NOT NULL",
            (load.run_ids,),
        )
        rows = await cur.fetchall()
    waits = [float(wait) for _, wait, _ in rows]
    outside = [load.client_ms[r] - float(d) for r, _, d in rows if r in load.client_ms]
    return waits, outside


async def measure(
    side: Side, root: Path, *, warehouse: StatementCounter, redis: Any, quick: bool
) -> Measured:
    """Start `side`'s processes on fresh state, warm them up, run the light load (when
    `side.light`) and the load; stop everything."""
    runs, light, clients = (10, 5, 5) if quick else (200, 30, 10)
    warehouse_url = warehouse.url
    warm = 2 * max(side.workers or 1, 2)
    await flush_redis(redis.url)
    out = Measured()
    # the processes stop before their schema is dropped (also when one fails)
    async with postgres_schema(_pg_base()) as schema_url:
        pg: str | None = None
        async with Processes(root / side.label.replace(" ", "-")) as procs:
            if side.workers is None:
                binary = _langgraph_dev()
                assert binary is not None
                url = await start_langgraph_dev(
                    procs, binary, warehouse_url=warehouse_url, redis_url=redis.url,
                    jobs=LANGGRAPH_DEV_JOBS)  # fmt: skip
            else:
                pg = schema_url
                url = await start_sophia(procs, warehouse_url=warehouse_url, postgres_url=pg,
                                         redis_url=redis.url, workers=side.workers,
                                         concurrency=CONCURRENCY)  # fmt: skip
            if (await drive(url, _deals(1, warm), warm)).errors:
                first = next(iter(procs.started))
                raise RuntimeError(f"{side.label}: warm-up failed; {first}: {procs.log(first)}")
            if side.light:
                out.light = await one_at_a_time(url, _deals(1 + warm, light))
                if pg is not None:
                    out.light_waits, out.light_outside = await overheads_ms(pg, out.light)

            def named(prefix: str) -> Callable[[], list[int]]:
                return lambda: [p for n, p in procs.pids().items() if n.startswith(prefix)]

            groups = {"api": named("api"), "workers": named("worker"),
                      "langgraph dev": named("langgraph-dev"), "client": lambda: [os.getpid()],
                      "emulator": lambda: [p for p in [child_pid("emulator")] if p],
                      "redis": lambda: [redis.process.pid]}  # fmt: skip
            usage = Usage(groups, postgres_url=pg, redis_url=redis.url, alone=frozenset({"client"}),
                          statements=lambda: warehouse.statements)  # fmt: skip
            settle = 0.0 if quick or pg is None else SETTLE_S
            await usage.start(settle_s=settle)
            out.load = await drive(url, _deals(1 + warm + light, runs), clients)
            out.used = await usage.stop(settle_s=settle)
    return out


def _pg_base() -> str:
    return os.environ.get("SOPHIA_BENCH_POSTGRES_URL", PG_DEFAULT)


def _sides(quick: bool) -> list[Side]:
    sides = [Side("in-process", 0, True), Side("1 worker", 1, True), Side("2 workers", 2, False)]
    if quick:  # a smoke test (CI): one configuration of each kind
        return sides[:2]
    sides.append(Side("4 workers", 4, False))
    if _langgraph_dev() is not None:
        sides.append(Side("langgraph dev", None, True))
    else:
        print("langgraph dev not found (see bench/durable.py): sophia only", file=sys.stderr)
    return sides


def _missing() -> str | None:
    """Why this machine cannot run the scenario (None: it can)."""
    if shutil.which("redis-server") is None:
        return "no redis-server on PATH"
    import psycopg

    try:
        with psycopg.connect(_pg_base(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no Postgres at {_pg_base()} (SOPHIA_BENCH_POSTGRES_URL): {exc}"


async def run(quick: bool) -> list[BenchRow]:
    """Every configuration of `_sides` under the same load (module docstring); no rows,
    with the reason on stderr, without Postgres or redis-server."""
    from stores.demo.local_redis import LocalRedis

    missing = await asyncio.to_thread(_missing)
    if missing is not None:
        print(f"workers: skipped: {missing}", file=sys.stderr)
        return []
    results: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="sophia-workers-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "redis").mkdir()
        redis = LocalRedis(tmp / "redis")
        async with emulator_process(SCALE) as direct, StatementCounter(direct) as warehouse:
            await asyncio.to_thread(redis.start)
            try:
                for side in _sides(quick):
                    started = time.monotonic()
                    results[side.label] = await measure(
                        side, tmp, warehouse=warehouse, redis=redis, quick=quick
                    )
                    print(f"workers: {side.label} measured in {time.monotonic() - started:.0f} s",
                          file=sys.stderr)  # fmt: skip
            finally:
                await asyncio.to_thread(redis.stop)
    return rows_of(results, 10 if quick else 200)


if __name__ == "__main__":
    from bench.common import main

    main(run, "background runs: in-process vs queued on workers vs langgraph dev")
