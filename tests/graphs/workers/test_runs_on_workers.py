"""Runs queued by API servers execute on `sophia worker` processes, and every API server
answers for them: status, wait, join, streams resumed from the last event id on another
server, and cancellation (queued or running) that reaches the worker."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import pytest

from tests.graphs.workers.cluster import Cluster, run_rows

pytestmark = pytest.mark.slow

REVIEW = {"deal_ids": ["D-00001"]}


def client(url: str) -> Any:
    from langgraph_sdk import get_client

    return get_client(url=url, timeout=120)


async def test_a_run_executes_on_a_worker_and_every_server_answers_for_it(
    cluster: Cluster,
) -> None:
    a, b = cluster.api("api-a", wait=False), cluster.api("api-b", wait=False)
    worker = cluster.worker("w1", wait=False)
    cluster.ready()
    sdk_a, sdk_b = client(a), client(b)
    thread = (await sdk_a.threads.create())["thread_id"]

    result = await sdk_a.runs.wait(thread, "deal_review", input=REVIEW)
    assert result["report"]["D-00001"]["deal"], result

    (listed,) = await sdk_b.runs.list(thread)
    assert listed["status"] == "success"
    (row,) = [r for r in run_rows(cluster.postgres_url) if r["run_id"] == listed["run_id"]]
    assert row["kwargs"]["worker"].endswith(f"-{worker.pid}"), row  # not an API server
    assert (await sdk_b.threads.get_state(thread))["values"]["report"]["D-00001"]
    async with httpx.AsyncClient(base_url=b) as http:
        queue = (await http.get("/dashboard/data")).json()["queue"]
        assert queue["mode"] == "workers" and queue["depth"] >= 0, queue
        gauges = (await http.get("/metrics")).text
        assert "sophia_run_queue_depth" in gauges
        assert "sophia_run_queue_oldest_age_seconds" in gauges
        accepted = (await http.post("/graphs/deal_review/runs", json=REVIEW)).json()
    joined = await sdk_a.runs.join(accepted["thread_id"], accepted["run_id"])  # the other one
    assert joined["report"]["D-00001"]["deal"], joined

    streamed = [
        (part.event, part.data)
        async for part in sdk_a.runs.stream(
            thread, "deal_review", input={"deal_ids": ["D-00002"]},
            stream_mode=["values", "updates"],
        )
    ]  # fmt: skip
    assert streamed[0][0] == "metadata" and len(streamed) > 4, streamed
    run_id = streamed[0][1]["run_id"]
    joined = [(p.event, p.data) async for p in sdk_b.runs.join_stream(thread, run_id)]
    assert joined == streamed  # the same events, in the same order, from the other server
    rest = [
        (p.event, p.data)
        async for p in sdk_b.runs.join_stream(thread, run_id, last_event_id="3")
    ]
    assert rest == streamed[3:]  # resumed after event 3 on another server


async def test_background_runs_are_seen_from_every_server_and_run_in_thread_order(
    cluster: Cluster,
) -> None:
    a, b = cluster.api("api-a", wait=False), cluster.api("api-b", wait=False)
    cluster.worker("w1", concurrency=4, wait=False)
    cluster.worker("w2", concurrency=4, wait=False)
    cluster.ready()
    sdk_a, sdk_b = client(a), client(b)
    thread = (await sdk_a.threads.create())["thread_id"]
    runs = [
        await sdk_a.runs.create(thread, "deal_review", input={"deal_ids": [f"D-0000{i}"]},
                                multitask_strategy="enqueue")
        for i in range(1, 6)
    ]  # fmt: skip
    for run in runs:
        await sdk_b.runs.join(thread, run["run_id"])
    finished = {r["run_id"]: r for r in await sdk_b.runs.list(thread, limit=10)}
    assert {finished[r["run_id"]]["status"] for r in runs} == {"success"}
    rows = {r["run_id"]: r for r in run_rows(cluster.postgres_url)}
    starts = [rows[r["run_id"]]["kwargs"]["attempts"] for r in runs]
    assert starts == [1] * 5
    history = await sdk_b.threads.get_history(thread, limit=100)
    order = [h["metadata"].get("run_id") for h in reversed(history) if h["metadata"]]
    seen = list(dict.fromkeys(order))  # each run's checkpoints, in the order they were written
    wanted = [r["run_id"].replace("-", "") for r in runs]
    assert [s for s in seen if s in wanted] == wanted  # one at a time, in queue order


async def test_cancel_reaches_the_worker_that_holds_the_run(cluster: Cluster) -> None:
    cluster.query_ms = 1500  # every statement takes 1.5 s: the run is long enough to cancel
    a, b = cluster.api("api-a", wait=False), cluster.api("api-b", wait=False)
    cluster.worker("w1", wait=False)
    cluster.ready()
    sdk_a, sdk_b = client(a), client(b)
    thread = (await sdk_a.threads.create())["thread_id"]
    run = await sdk_a.runs.create(thread, "deal_review", input={"deal_ids": ["D-00004"]})
    deadline = time.monotonic() + 120
    while (await sdk_b.runs.get(thread, run["run_id"]))["status"] != "running":
        assert time.monotonic() < deadline, cluster.log("w1")
        await asyncio.sleep(0.1)
    await sdk_b.runs.cancel(thread, run["run_id"], wait=True)  # on the other server
    assert (await sdk_a.runs.get(thread, run["run_id"]))["status"] == "interrupted"
    (row,) = [r for r in run_rows(cluster.postgres_url) if r["run_id"] == run["run_id"]]
    assert row["status"] == "cancelled" and row["kwargs"]["attempts"] == 1

    queued = await sdk_a.runs.create(thread, "deal_review", input=REVIEW, after_seconds=600)
    await sdk_b.runs.cancel(thread, queued["run_id"], wait=True)  # never started
    (row,) = [r for r in run_rows(cluster.postgres_url) if r["run_id"] == queued["run_id"]]
    assert row["status"] == "cancelled" and "attempts" not in row["kwargs"], row
    assert (await sdk_a.runs.join(thread, queued["run_id"])) is not None
    assert os.environ.get("SOPHIA_RUN_QUEUE") is None  # the test process runs nothing itself
