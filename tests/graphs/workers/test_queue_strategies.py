"""Across API servers and workers: LangGraph's multitask strategies on a busy thread
(``reject``, ``interrupt``, ``rollback``), and a run whose workers keep dying is
dead-lettered with the reason instead of being started for ever."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import httpx
import pytest

from tests.graphs.workers.cluster import Cluster, run_rows

pytestmark = pytest.mark.slow

SLOW_MS = 1000  # every warehouse statement: a deal review runs for several seconds


def client(url: str) -> Any:
    from langgraph_sdk import get_client

    return get_client(url=url, timeout=120)


async def until_running(sdk: Any, thread: str, run_id: str, cluster: Cluster, log: str) -> None:
    deadline = time.monotonic() + 120
    while (await sdk.runs.get(thread, run_id))["status"] != "running":
        assert time.monotonic() < deadline, cluster.log(log)
        await asyncio.sleep(0.1)


async def test_a_busy_thread_rejects_interrupts_or_rolls_back_across_servers(
    cluster: Cluster,
) -> None:
    cluster.query_ms = SLOW_MS
    sdk_a = client(cluster.api("api-a", wait=False))
    sdk_b = client(cluster.api("api-b", wait=False))
    cluster.worker("w1", wait=False)
    cluster.worker("w2", wait=False)
    cluster.ready()
    thread = (await sdk_a.threads.create())["thread_id"]
    review = {"deal_ids": ["D-00001"]}

    first = await sdk_a.runs.create(thread, "deal_review", input=review)
    await until_running(sdk_b, thread, first["run_id"], cluster, "w1")
    with pytest.raises(httpx.HTTPStatusError) as refused:  # reject is the default
        await sdk_b.runs.create(thread, "deal_review", input=review)
    assert refused.value.response.status_code == 409

    second = await sdk_b.runs.create(thread, "deal_review", input=review,
                                     multitask_strategy="interrupt")  # fmt: skip
    assert (await sdk_a.runs.get(thread, first["run_id"]))["status"] == "interrupted"
    await until_running(sdk_a, thread, second["run_id"], cluster, "w2")
    third = await sdk_a.runs.create(thread, "deal_review", input=review,
                                    multitask_strategy="rollback")  # fmt: skip
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await sdk_b.runs.get(thread, second["run_id"])
    assert gone.value.response.status_code == 404  # rolled back: deleted
    result = await sdk_b.runs.join(thread, third["run_id"])
    assert result["report"]["D-00001"]["deal"], result
    statuses = {r["run_id"]: r["status"] for r in run_rows(cluster.postgres_url)}
    assert statuses == {first["run_id"]: "cancelled", third["run_id"]: "complete"}


async def test_a_run_whose_workers_keep_dying_is_dead_lettered(cluster: Cluster) -> None:
    cluster.query_ms = SLOW_MS
    sdk = client(cluster.api("api", wait=False, SOPHIA_RUN_MAX_ATTEMPTS="1"))
    doomed = cluster.worker("doomed", wait=False, SOPHIA_RUN_MAX_ATTEMPTS="1")
    cluster.ready()
    thread = (await sdk.threads.create())["thread_id"]
    run = await sdk.runs.create(thread, "deal_review", input={"deal_ids": ["D-00002"]})
    await until_running(sdk, thread, run["run_id"], cluster, "doomed")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    cluster.worker("next", SOPHIA_RUN_MAX_ATTEMPTS="1")
    outcome = await sdk.runs.join(thread, run["run_id"])
    assert outcome.get("__error__", {}).get("error") == "dead_letter", outcome
    assert "SOPHIA_RUN_MAX_ATTEMPTS" in outcome["__error__"]["message"]
    (row,) = run_rows(cluster.postgres_url)
    assert row["status"] == "failed" and row["kwargs"]["attempts"] == 2, row
    thread_now = await sdk.threads.get(thread)
    assert thread_now["status"] != "busy"  # the thread is free for the next run


async def test_a_worker_told_to_stop_hands_its_run_to_another(cluster: Cluster) -> None:
    cluster.query_ms = SLOW_MS
    sdk = client(cluster.api("api", wait=False))
    leaving = cluster.worker("leaving", wait=False)
    cluster.ready()
    thread = (await sdk.threads.create())["thread_id"]
    run = await sdk.runs.create(thread, "deal_review", input={"deal_ids": ["D-00003"]})
    await until_running(sdk, thread, run["run_id"], cluster, "leaving")
    leaving.send_signal(signal.SIGTERM)  # its grace (1 s) is shorter than the run
    assert leaving.wait(timeout=120) == 0, cluster.log("leaving")
    cluster.worker("staying")
    result = await sdk.runs.join(thread, run["run_id"])
    assert result["report"]["D-00003"]["deal"], result
    (row,) = run_rows(cluster.postgres_url)
    assert row["status"] == "complete" and row["kwargs"]["attempts"] == 2, row
