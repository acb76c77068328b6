"""The LangGraph SDK API, called with the official `langgraph_sdk` client over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import ConflictError, NotFoundError

from graphs.engine.run_record import RunRecord
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.routes import assistant_id_of
from stores.errors import SophiaError
from stores.settings import Settings
from tests.graphs.durable.durable_app import build_app, counts, registry_from_env
from tests.graphs.server.live_server import ServerThread

AT_RISK = "D-00003"  # at risk in the SMALL demo data: the approval pause triggers
HEALTHY = "D-00016"  # healthy in the SMALL demo data (D-00010 was, before Slack risks counted)


@pytest.fixture
def server(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerThread]:
    monkeypatch.setenv("SOPHIA_TEST_COUNT_FILE", str(tmp_path / "counts.txt"))
    with ServerThread(build_app(settings, registry_from_env())) as running:
        yield running


@pytest.fixture
def slow_server(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerThread]:
    monkeypatch.setenv("SOPHIA_TEST_COUNT_FILE", str(tmp_path / "counts.txt"))
    monkeypatch.setenv("SOPHIA_TEST_SLOW_NODE", "linear")
    monkeypatch.setenv("SOPHIA_TEST_SLOW_S", "1.5")
    with ServerThread(build_app(settings, registry_from_env())) as running:
        yield running


async def test_assistants_search_and_get(server: ServerThread) -> None:
    client = get_client(url=server.url)
    found = await client.assistants.search()
    assert [a["graph_id"] for a in found] == ["deal_review"]
    assert found[0]["assistant_id"] == assistant_id_of("deal_review")
    by_id = await client.assistants.get(found[0]["assistant_id"])
    assert by_id["graph_id"] == "deal_review"
    assert (await client.assistants.get("deal_review"))["assistant_id"] == by_id["assistant_id"]
    with pytest.raises(NotFoundError):  # LangGraph's server: 404 naming the graphs
        await client.assistants.search(graph_id="nope")
    with pytest.raises(NotFoundError):
        await client.assistants.get("no_such_graph")


async def test_stateless_wait_returns_final_values(server: ServerThread) -> None:
    client = get_client(url=server.url)
    values = await client.runs.wait(None, "deal_review", input={"deal_ids": [HEALTHY]})
    assert values["deal_ids"] == [HEALTHY]
    assert values["report"][HEALTHY]["status"] == "healthy"
    assert set(values["timings"]) >= {"hubspot", "gong", "slack", "linear", "synthesis"}


async def test_threads_create_get_state_history(server: ServerThread) -> None:
    client = get_client(url=server.url)
    thread = await client.threads.create(metadata={"owner": "ana"})
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["metadata"] == {"owner": "ana"}
    empty = await client.threads.get_state(tid)
    assert empty["values"] == {} and empty["next"] == []
    values = await client.runs.wait(tid, "deal_review", input={"deal_ids": [HEALTHY]})
    assert values["report"][HEALTHY]["health_score"] is not None
    got = await client.threads.get(tid)
    assert got["status"] == "idle" and got["values"]["report"] == values["report"]
    state = await client.threads.get_state(tid)
    assert state["next"] == [] and state["values"]["report"] == values["report"]
    assert state["checkpoint"]["thread_id"] == tid and state["checkpoint"]["checkpoint_id"]
    history = await client.threads.get_history(tid, limit=10)
    # input, superstep 1 (agents + memory), 2 (analyses), 3 (synthesis), plus the empty start
    assert [h["next"] for h in history][:4] == [
        [],
        ["synthesis"],
        ["sales_analysis", "communication_analysis", "project_analysis"],
        ["hubspot", "gong", "slack", "linear", "memory"],
    ]
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    # A second run on the thread starts from the new input and is kept in the history.
    again = await client.runs.wait(tid, "deal_review", input={"deal_ids": [AT_RISK]})
    assert again["deal_ids"] == [AT_RISK]
    assert len(await client.threads.get_history(tid, limit=100)) > len(history)
    with pytest.raises(ConflictError):
        await client.threads.create(thread_id=tid)
    same = await client.threads.create(thread_id=tid, if_exists="do_nothing")
    assert same["thread_id"] == tid


async def test_stream_values_and_updates_in_order(server: ServerThread) -> None:
    client = get_client(url=server.url)
    parts = [
        p
        async for p in client.runs.stream(
            None, "deal_review", input={"deal_ids": [HEALTHY]}, stream_mode=["values", "updates"]
        )
    ]
    assert parts[0].event == "metadata" and parts[0].data["run_id"]
    updates = [next(iter(p.data)) for p in parts if p.event == "updates"]
    assert set(updates[:5]) == {"hubspot", "gong", "slack", "linear", "memory"}
    assert set(updates[5:8]) == {"sales_analysis", "communication_analysis", "project_analysis"}
    assert updates[8:] == ["synthesis"]
    values = [p.data for p in parts if p.event == "values"]
    assert values[0]["deal_ids"] == [HEALTHY] and "hubspot" not in values[0]
    assert values[-1]["report"][HEALTHY]["status"] == "healthy"
    # values arrive once per superstep, each after that superstep's updates
    kinds = [p.event for p in parts[1:]]
    assert kinds.count("values") == 4
    assert kinds[-1] == "values" and kinds[-2] == "updates"

    only_updates = [
        p.event
        async for p in client.runs.stream(None, "deal_review", input={}, stream_mode="updates")
    ]
    assert set(only_updates) == {"metadata", "updates"}


async def test_interrupt_and_resume_over_http(server: ServerThread) -> None:
    client = get_client(url=server.url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(
        tid, "deal_review", input={"deal_ids": [AT_RISK, HEALTHY], "require_approval": True}
    )
    (interrupt,) = paused["__interrupt__"]
    assert interrupt["value"]["kind"] == "deal_approval"
    assert list(interrupt["value"]["deals"]) == [AT_RISK]
    assert "report" not in paused  # paused before synthesis wrote anything
    got = await client.threads.get(tid)
    assert got["status"] == "interrupted"
    state = await client.threads.get_state(tid)
    assert state["next"] == ["synthesis"]
    assert state["interrupts"][0]["id"] == interrupt["id"]
    done = await client.runs.wait(
        tid, "deal_review", command={"resume": {"decision": "reject", "note": "too risky"}}
    )
    assert done["report"][AT_RISK]["approval"]["decision"] == "reject"
    assert done["report"][AT_RISK]["approval"]["note"] == "too risky"
    assert "approval" not in done["report"][HEALTHY]
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_approval_needs_a_thread(server: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/runs/wait", json={"assistant_id": "deal_review", "input": {"require_approval": True}}
        )
    assert response.status_code == 422
    assert "thread" in response.json()["detail"]


async def test_background_create_join_and_get(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})
    assert run["status"] in ("pending", "running") and run["thread_id"] == tid
    values = await client.runs.join(tid, run["run_id"])
    assert values["report"][HEALTHY]["status"] == "healthy"
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    assert [r["run_id"] for r in await client.runs.list(tid)] == [run["run_id"]]


async def test_busy_thread_409_enqueue_and_cancel(
    slow_server: ServerThread, tmp_path: Path
) -> None:
    client = get_client(url=slow_server.url)
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})
    with pytest.raises(ConflictError):
        await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})
    async with httpx.AsyncClient(base_url=slow_server.url) as http:
        busy = await http.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "deal_review", "input": {}},
        )
    assert busy.status_code == 409 and "busy" in busy.json()["detail"]
    assert (await client.threads.get(tid))["status"] == "busy"
    queued = await client.runs.create(
        tid, "deal_review", input={"deal_ids": [AT_RISK]}, multitask_strategy="enqueue"
    )
    first_values = await client.runs.join(tid, first["run_id"])
    assert first_values["deal_ids"] == [HEALTHY]
    queued_values = await client.runs.join(tid, queued["run_id"])
    assert queued_values["deal_ids"] == [AT_RISK] and queued_values["report"][AT_RISK]

    # cancel: the slow agent never finishes, the run is marked interrupted
    before = counts(tmp_path / "counts.txt").get("done linear", 0)
    doomed = await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})
    await asyncio.sleep(0.3)
    await client.runs.cancel(tid, doomed["run_id"], wait=True)
    assert (await client.runs.get(tid, doomed["run_id"]))["status"] == "interrupted"
    await asyncio.sleep(1.5)
    assert counts(tmp_path / "counts.txt").get("done linear", 0) == before
    # the thread is free again, and the cancelled run's finished agents are checkpointed
    state = await client.threads.get_state(tid)
    assert "linear" in state["next"]
    resumed = await client.runs.wait(tid, "deal_review", input=None)
    assert resumed["report"][HEALTHY]["health_score"] is not None


async def test_unknown_thread_assistant_and_run_are_404(server: ServerThread) -> None:
    client = get_client(url=server.url)
    with pytest.raises(NotFoundError):
        await client.threads.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        await client.threads.get_state("nope")
    with pytest.raises(NotFoundError):
        await client.runs.create("nope", "deal_review", input={})
    tid = (await client.threads.create())["thread_id"]
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, "00000000-0000-0000-0000-000000000000")
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path, body in [
            ("/runs/wait", {"assistant_id": "nope", "input": {}}),
            (f"/threads/{tid}/runs/wait", {"assistant_id": "nope", "input": {}}),
            ("/threads/nope/runs/wait", {"assistant_id": "deal_review", "input": {}}),
        ]:
            response = await http.post(path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert (
                "not found" in response.json()["detail"] or "unknown" in response.json()["detail"]
            )
        bad = await http.post("/runs/wait", json={"assistant_id": "deal_review", "input": {"x": 1}})
        assert bad.status_code == 422 and "x" in bad.json()["detail"]
        created = await http.post(
            "/threads/fresh-thread/runs/wait",
            json={
                "assistant_id": "deal_review",
                "input": {"deal_ids": [HEALTHY]},
                "if_not_exists": "create",
            },
        )
        assert created.status_code == 200 and created.json()["deal_ids"] == [HEALTHY]


async def test_bodies_are_parsed_by_their_models(server: ServerThread) -> None:
    """A body the request model refuses is a 422 naming the field (never a 500)."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        run = {"assistant_id": "deal_review"}
        cases = [  # (path, body, the field the answer must name)
            ("/runs/wait", {**run, "metadata": "not an object"}, "metadata"),
            ("/runs/wait", {**run, "stream_mode": "tools"}, "stream_mode"),
            ("/runs/wait", {**run, "stream_mode": "nope"}, "stream_mode"),
            ("/runs/wait", {**run, "on_completion": "archive"}, "on_completion"),
            ("/runs/wait", {**run, "no_such_field": 1}, "no_such_field"),
            ("/runs/wait", {**run, "command": {"jump": 1}}, "command.jump"),
            ("/runs/wait", {"input": {}}, "assistant_id"),
            ("/threads", {"if_exists": "overwrite"}, "if_exists"),
            ("/threads/search", {"limit": "many"}, "limit"),
        ]
        for path, body, field in cases:
            response = await http.post(path, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert field in response.json()["detail"], (field, response.text)
        listed = await http.get("/threads/nope/runs", params={"limit": "x"})
        assert listed.status_code == 422 and "limit" in listed.json()["detail"]
        # lenient where the SDK server is: out-of-range pages are clamped, not refused
        clamped = await http.post("/threads/search", json={"limit": 5000, "offset": -1})
        assert clamped.status_code == 200


async def test_a_stream_whose_client_leaves_is_cancelled(
    slow_server: ServerThread, tmp_path: Path
) -> None:
    client = get_client(url=slow_server.url)
    tid = (await client.threads.create())["thread_id"]
    async with (
        httpx.AsyncClient(base_url=slow_server.url, timeout=30) as http,
        http.stream(
            "POST", f"/threads/{tid}/runs/stream",
            json={"assistant_id": "deal_review", "input": {"deal_ids": [HEALTHY]}},
        ) as response,
    ):  # fmt: skip
        async for line in response.aiter_lines():
            if line.startswith("event: metadata"):
                break  # leave while the slow agent is still running
    for _ in range(600):
        (run,) = await client.runs.list(tid)
        if run["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "interrupted"  # LangGraph's name for our 'cancelled'
    manager = slow_server.server.config.app.state.sdk_runs
    record = manager.get(tid, run["run_id"]).record
    assert isinstance(record, RunRecord)  # the engine's one record type
    assert record.status == "cancelled" and record.finished_at is not None
    assert counts(tmp_path / "counts.txt").get("done linear", 0) == 0


def test_api_error_is_a_sophia_error() -> None:
    assert issubclass(ApiError, SophiaError)
