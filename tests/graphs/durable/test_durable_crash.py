"""A server killed (SIGKILL) mid-run; a new server process resumes the thread's run.

The first server's Linear agent is slow; the test waits until the other agents have
finished and Linear has started, kills the process, starts a fresh one (not slow), and
resumes through the SDK. Finished agents are not run again: each agent logs its starts
and ends to a file, across both processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from tests.graphs.durable.durable_app import counts
from tests.graphs.durable.durable_support import (
    ServerProcess,
    postgres_available,
    postgres_schema,
    wait_for_counts,
)

HEALTHY = "D-00016"  # healthy in the SMALL demo data (D-00010 was, before Slack risks counted)


@pytest.fixture(params=["sqlite", "postgres"])
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    if not postgres_available():
        pytest.skip("no Postgres on 127.0.0.1:5432")
    with postgres_schema() as url:
        yield url


async def test_killed_server_resumes_without_rerunning_finished_nodes(
    tmp_path: Path, small_warehouse: Path, postgres_url: str | None
) -> None:
    count_file = tmp_path / "counts.txt"
    env = {
        "SOPHIA_DATA_DIR": str(tmp_path / "data"),
        "SOPHIA_WAREHOUSE_URL": f"duckdb:///{small_warehouse}",
        "SOPHIA_TRACE_FILE": "false",
        "SOPHIA_TEST_COUNT_FILE": str(count_file),
        "SOPHIA_TEST_SLOW_NODE": "linear",
        "SOPHIA_TEST_SLOW_S": "120",
        "OTEL_SDK_DISABLED": "true",
    }
    env.pop("SOPHIA_REDIS_URL", None)
    if postgres_url:
        env["SOPHIA_POSTGRES_URL"] = postgres_url
    first = ServerProcess(env, tmp_path / "server1.log").start()
    try:
        client = get_client(url=first.url)
        thread = await client.threads.create(metadata={"case": "crash"})
        tid = thread["thread_id"]
        await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})
        await wait_for_counts(
            count_file, ["done hubspot", "done gong", "done slack", "start linear"]
        )
        await asyncio.sleep(0.5)  # the finished agents' writes are saved as each task ends
    finally:
        first.kill()
    assert "done linear" not in counts(count_file)

    second = ServerProcess({**env, "SOPHIA_TEST_SLOW_S": "0"}, tmp_path / "server2.log").start()
    try:
        client = get_client(url=second.url)
        got = await client.threads.get(tid)
        # the caller's metadata survives; the run added its graph and assistant (as LangGraph does)
        assert got["metadata"]["case"] == "crash" and got["status"] == "idle"
        assert got["metadata"]["graph_id"] == "deal_review"
        state = await client.threads.get_state(tid)
        assert "linear" in state["next"] and state["values"]["deal_ids"] == [HEALTHY]
        values = await client.runs.wait(tid, "deal_review", input=None)
        assert values["report"][HEALTHY]["health_score"] is not None
        assert values["errors"] == []
        final = await client.threads.get_state(tid)
        assert final["next"] == []
    finally:
        second.stop()
    seen = counts(count_file)
    for agent in ("hubspot", "gong", "slack"):
        assert seen[f"start {agent}"] == 1, (agent, seen)
        assert seen[f"done {agent}"] == 1, (agent, seen)
    assert seen["start linear"] == 2 and seen["done linear"] == 1, seen
