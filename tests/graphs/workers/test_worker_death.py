"""A worker SIGKILLed mid-way through 50 deal reviews loses none of them: each of its runs
is resumed by the other worker from its last checkpoint within the recovery bound, no
superstep runs twice, and no node that finished before the kill runs again."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from tests.graphs.workers.cluster import Cluster, job_timeline, node_spans, run_rows, stop

pytestmark = pytest.mark.slow

RUNS = 50
RECOVERY_BOUND_S = 30.0
NODES = {"hubspot", "gong", "slack", "linear", "memory", "communication_analysis",
         "project_analysis", "sales_analysis", "synthesis"}  # fmt: skip


def client(url: str) -> Any:
    from langgraph_sdk import get_client

    return get_client(url=url, timeout=120)


def spans_by_thread(spans: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Node executions per thread, from one process's trace file (runs it finished)."""
    thread_of = {s["trace_id"]: s["attributes"].get("sophia.thread.id")
                 for s in spans if s["parent_span_id"] is None}  # fmt: skip
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for span in spans:
        node = span["attributes"].get("sophia.node")
        thread = thread_of.get(span["trace_id"])
        if node in NODES and thread:
            counts[thread][node] += 1
    return counts


async def test_a_killed_workers_runs_resume_elsewhere_exactly_once_past_checkpoints(
    cluster: Cluster,
) -> None:
    cluster.query_ms, cluster.scale = 20, 0.02  # 100 deals; each statement takes 20 ms more
    api = cluster.api("api", wait=False)
    victim = cluster.worker("victim", concurrency=4, wait=False)
    survivor = cluster.worker("survivor", concurrency=4, wait=False)
    cluster.ready()
    sdk = client(api)
    threads = [(await sdk.threads.create())["thread_id"] for _ in range(RUNS)]
    runs = {}
    for i, thread in enumerate(threads, start=1):
        run = await sdk.runs.create(thread, "deal_review", input={"deal_ids": [f"D-{i:05d}"]})
        runs[run["run_id"]] = thread

    deadline = time.monotonic() + 240
    while True:  # kill the victim while it holds a run, after some have completed
        rows = run_rows(cluster.postgres_url)
        held = [r for r in rows if r["status"] == "running"
                and str(r["kwargs"].get("worker", "")).endswith(f"-{victim.pid}")]  # fmt: skip
        if held and sum(r["status"] == "complete" for r in rows) >= 5:
            victim.send_signal(signal.SIGKILL)
            killed_at = time.time()
            break
        assert time.monotonic() < deadline, cluster.log("victim")
        await asyncio.sleep(0.05)
    victim.wait()

    deadline = time.monotonic() + 300
    while not all(r["status"] == "complete" for r in run_rows(cluster.postgres_url)):
        assert time.monotonic() < deadline, [
            (r["run_id"], r["status"], r["error"]) for r in run_rows(cluster.postgres_url)
            if r["status"] != "complete"
        ]  # fmt: skip
        await asyncio.sleep(0.5)
    rows = {r["run_id"]: r for r in run_rows(cluster.postgres_url)}
    assert set(rows) == set(runs) and len(rows) == RUNS
    taken_over = [r for r in rows.values() if r["kwargs"]["attempts"] == 2]
    assert taken_over, "no run was on the victim when it was killed"
    assert all(r["kwargs"]["worker"].endswith(f"-{survivor.pid}") for r in taken_over)
    late = [r["updated_at"] - killed_at for r in taken_over]
    assert max(late) <= RECOVERY_BOUND_S, (killed_at, late, job_timeline(
        cluster.postgres_url, [r["run_id"] for r in taken_over]))
    for run_id, thread in runs.items():  # what every API client sees
        assert (await sdk.runs.get(thread, run_id))["status"] == "success"

    stop(survivor)  # its spans are all in its trace file once it has stopped
    by_survivor = spans_by_thread(node_spans(cluster.root / "survivor"))
    for row in rows.values():
        thread = row["thread_id"]
        history = list(reversed(await sdk.threads.get_history(thread, limit=100)))
        steps = [h["metadata"]["step"] for h in history]
        assert len(steps) == len(set(steps)), (thread, steps)  # no superstep twice
        on_survivor = by_survivor.get(thread, Counter())
        assert all(n == 1 for n in on_survivor.values()), (thread, on_survivor)
        if row["kwargs"]["attempts"] == 1:
            if row["kwargs"]["worker"].endswith(f"-{survivor.pid}"):
                assert set(on_survivor) == NODES, (thread, on_survivor)
            continue
        before = [h for h in history if _epoch(h["created_at"]) < killed_at]
        finished_on_victim = {n for h in before[:-1] for n in h["next"] if n in NODES}
        assert not finished_on_victim & set(on_survivor), (thread, finished_on_victim)
        begun_on_victim = {n for h in before for n in h["next"] if n in NODES}
        assert begun_on_victim | set(on_survivor) == NODES, (thread, on_survivor)


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()
