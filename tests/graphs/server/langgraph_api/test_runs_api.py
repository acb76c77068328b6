"""Run routes of the LangGraph API through the official ``langgraph_sdk`` client: delete,
join_stream (with Last-Event-ID), background runs without a thread, batch, cancel many,
list by status, and other tenants' runs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from stores.settings import Settings
from tests.graphs.server.langgraph_api.run_support import (
    gate,
    gate_name,
    live,
    reached,
    refusal,
    until,
)
from tests.graphs.server.langgraph_api.sdk_support import as_tenant
from tests.graphs.server.live_server import ServerThread


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with live(settings) as running:
        yield running


async def _status(client: LangGraphClient, tid: str, run_id: str, *wanted: str) -> None:
    async def check() -> bool:
        return (await client.runs.get(tid, run_id))["status"] in wanted

    await until(check, f"run {run_id} {'/'.join(wanted)}")


async def test_delete_a_run_once_it_ended(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    name = gate_name()
    run = await client.runs.create(tid, "gated", input={"gate": name})
    await reached(name)
    with pytest.raises(ConflictError):  # still running
        await client.runs.delete(tid, run["run_id"])
    gate(name).set()
    await client.runs.join(tid, run["run_id"])
    other = get_client(url=server.url, headers=as_tenant("globex"))
    with pytest.raises(NotFoundError):  # another tenant's run is unknown
        await other.runs.delete(tid, run["run_id"])
    await client.runs.delete(tid, run["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, run["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.delete(tid, run["run_id"])
    assert await client.runs.list(tid) == []
    state = await client.threads.get_state(tid)  # the thread keeps what the run did
    assert state["values"]["said"] == ["first", "waited", "after"]


async def test_join_stream_replays_then_follows_and_resumes_after_an_id(
    server: ServerThread,
) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    name = gate_name()
    run = await client.runs.create(tid, "gated", input={"gate": name},
                                   stream_mode=["values", "custom"])  # fmt: skip
    rid = run["run_id"]
    await reached(name)
    seen: list[Any] = []

    async def follow() -> None:
        async for part in client.runs.join_stream(tid, rid):
            seen.append(part)

    joined = asyncio.create_task(follow())

    async def replayed() -> bool:  # what the run did before the join came first
        return any(p.event == "custom" and p.data == {"step": "first"} for p in seen)

    await until(replayed, "replayed")
    gate(name).set()
    await asyncio.wait_for(joined, 60)
    assert seen[0].event == "metadata" and seen[0].data["run_id"] == rid
    assert [p.data for p in seen if p.event == "custom"] == [{"step": "first"}, {"step": "after"}]
    assert seen[-1].event == "values" and seen[-1].data["said"] == ["first", "waited", "after"]
    ids = [int(p.id) for p in seen]
    assert ids == list(range(1, len(seen) + 1))

    # rejoin after an event: only what came after it
    middle = seen[3]
    again = [p async for p in client.runs.join_stream(tid, rid, last_event_id=middle.id)]
    assert [p.id for p in again] == [p.id for p in seen[4:]]
    # only some of the run's modes
    custom = [p async for p in client.runs.join_stream(tid, rid, stream_mode="custom")]
    assert {p.event for p in custom} == {"metadata", "custom"}
    status, detail = await refusal(lambda: _drain(client.runs.join_stream(
        tid, rid, stream_mode="updates")))  # fmt: skip
    assert status == 422 and "updates" in detail
    other = get_client(url=server.url, headers=as_tenant("globex"))
    status, _ = await refusal(lambda: _drain(other.runs.join_stream(tid, rid)))
    assert status == 404


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


async def test_background_runs_without_a_thread(server: ServerThread) -> None:
    client = get_client(url=server.url)
    name = gate_name()
    run = await client.runs.create(None, "gated", input={"gate": name, "word": "w"})
    tid, rid = run["thread_id"], run["run_id"]
    assert tid and run["status"] in ("pending", "running")
    assert run["kwargs"]["temporary"] is True and run["kwargs"]["input"]["gate"] == name
    await reached(name)
    assert (await client.runs.get(tid, rid))["status"] == "running"
    other = get_client(url=server.url, headers=as_tenant("globex"))
    for call in (lambda: other.runs.get(tid, rid), lambda: other.runs.join(tid, rid),
                 lambda: other.runs.cancel(tid, rid)):  # fmt: skip
        assert (await refusal(call))[0] == 404
    gate(name).set()
    values = await client.runs.join(tid, rid)
    assert values["said"] == ["first", "waited", "after"]
    assert (await client.runs.get(tid, rid))["status"] == "success"
    with pytest.raises(NotFoundError):  # no thread was kept
        await client.threads.get(tid)

    kept = await client.runs.create(None, "steps", input={"word": "k"}, on_completion="keep")
    await client.runs.join(kept["thread_id"], kept["run_id"])
    state = await client.threads.get_state(kept["thread_id"])
    assert state["values"]["said"] == ["a", "b", "c"]
    assert kept["kwargs"]["temporary"] is False


async def test_create_batch_starts_all_or_none(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    runs = await client.runs.create_batch([
        {"assistant_id": "steps", "input": {"word": "x"}},  # type: ignore[typeddict-item]
        {"assistant_id": "echo", "thread_id": tid, "input": {"word": "y"}},  # type: ignore[typeddict-item]
    ])  # fmt: skip
    assert [r["thread_id"] == tid for r in runs] == [False, True]
    assert (await client.runs.join(runs[0]["thread_id"], runs[0]["run_id"]))["said"] == [
        "a", "b", "c"]  # fmt: skip
    assert (await client.runs.join(tid, runs[1]["run_id"]))["said"] == ["y"]

    fresh = (await client.threads.create())["thread_id"]
    status, detail = await refusal(lambda: client.runs.create_batch([
        {"assistant_id": "steps", "thread_id": fresh, "input": {}},  # type: ignore[typeddict-item]
        {"assistant_id": "steps", "thread_id": "no-such-thread", "input": {}},  # type: ignore[typeddict-item]
    ]))  # fmt: skip
    assert status == 404 and detail.startswith("runs[1]:")
    assert await client.runs.list(fresh) == []  # the first was rolled back
    assert (await client.threads.get_state(fresh))["values"] == {}
    async with httpx.AsyncClient(base_url=server.url) as http:
        for bad in ({"assistant_id": "steps"}, [], [{"assistant_id": "steps", "nope": 1}]):
            answer = await http.post("/runs/batch", json=bad)
            assert answer.status_code == 422, answer.text


async def test_cancel_many_by_thread_ids_and_status(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    a, b = gate_name(), gate_name()
    running = await client.runs.create(tid, "gated", input={"gate": a})
    await reached(a)
    queued = await client.runs.create(tid, "steps", input={}, multitask_strategy="enqueue")
    elsewhere = await client.runs.create(None, "gated", input={"gate": b})
    await reached(b)

    status, _ = await refusal(lambda: client.runs.cancel_many())
    assert status == 422
    status, _ = await refusal(lambda: client.runs.cancel_many(run_ids=[str(uuid.uuid4())]))
    assert status == 404
    other = get_client(url=server.url, headers=as_tenant("globex"))
    await other.runs.cancel_many(status="all")  # none of theirs: ours go on
    status, _ = await refusal(lambda: other.runs.cancel_many(run_ids=[running["run_id"]]))
    assert status == 404
    assert (await client.runs.get(tid, running["run_id"]))["status"] == "running"

    await client.runs.cancel_many(thread_id=tid)
    for run in (running, queued):
        await _status(client, tid, run["run_id"], "interrupted")
    assert (await client.runs.get(elsewhere["thread_id"], elsewhere["run_id"]))["status"] == (
        "running")  # fmt: skip
    await client.runs.cancel_many(status="running", action="rollback")
    with pytest.raises(NotFoundError):  # rolled back: gone
        await client.runs.get(elsewhere["thread_id"], elsewhere["run_id"])


async def test_list_runs_by_status_and_selected_fields(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    done = await client.runs.create(tid, "steps", input={})
    await client.runs.join(tid, done["run_id"])
    name = gate_name()
    stopped = await client.runs.create(tid, "gated", input={"gate": name})
    await reached(name)
    await client.runs.cancel(tid, stopped["run_id"], wait=True)
    assert [r["run_id"] for r in await client.runs.list(tid, status="success")] == [
        done["run_id"]]  # fmt: skip
    assert [r["run_id"] for r in await client.runs.list(tid, status="interrupted")] == [
        stopped["run_id"]]  # fmt: skip
    assert await client.runs.list(tid, status="error") == []
    picked = await client.runs.list(tid, select=["run_id", "status"])
    assert picked == [{"run_id": stopped["run_id"], "status": "interrupted"},
                      {"run_id": done["run_id"], "status": "success"}]  # fmt: skip
    with contextlib.suppress(Exception):
        gate(name).set()
    status, detail = await refusal(lambda: client.runs.list(tid, status="finished"))  # type: ignore[arg-type]
    assert status == 422 and "status" in detail


async def test_a_resumable_stream_says_where_to_rejoin_and_a_wait_may_cancel(
    server: ServerThread,
) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    body = {"assistant_id": "steps", "input": {}, "stream_resumable": True}
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
        http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response,
    ):
        lines = [line async for line in response.aiter_lines()]
    rid = response.headers["Content-Location"].rsplit("/", 1)[1]
    assert response.headers["Content-Location"] == f"/threads/{tid}/runs/{rid}"
    assert response.headers["Location"] == f"/threads/{tid}/runs/{rid}/stream"
    assert [x for x in lines if x.startswith("id: ")][:2] == ["id: 1", "id: 2"]
    run = await client.runs.get(tid, rid)
    assert run["kwargs"]["resumable"] is True and run["kwargs"]["on_disconnect"] == "continue"

    name = gate_name()
    waited = {"assistant_id": "gated", "input": {"gate": name}, "on_disconnect": "cancel"}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        call = asyncio.create_task(http.post(f"/threads/{tid}/runs/wait", json=waited))
        await reached(name)
        call.cancel()  # the client leaves
        with contextlib.suppress(asyncio.CancelledError):
            await call
    (latest, _) = await client.runs.list(tid)
    await _status(client, tid, latest["run_id"], "interrupted")
    gate(name).set()


async def test_join_stream_of_a_run_whose_events_are_gone_sends_its_values(
    server: ServerThread,
) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "steps", input={}, stream_mode=["values", "updates"])
    await client.runs.join(tid, run["run_id"])
    manager = server.app.state.sdk_runs  # type: ignore[attr-defined]
    manager.runs[run["run_id"]].log.forget()  # as for a run finished long ago
    parts = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert [p.event for p in parts] == ["metadata", "values"]
    assert parts[1].data["said"] == ["a", "b", "c"]


async def test_only_the_last_finished_runs_keep_their_event_logs(server: ServerThread) -> None:
    from graphs.server.langgraph_api.runs import LOGS_KEPT

    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    run_ids = []
    for _ in range(LOGS_KEPT + 2):
        run = await client.runs.create(tid, "steps", input={}, stream_mode="updates")
        await client.runs.join(tid, run["run_id"])
        run_ids.append(run["run_id"])
    manager = server.app.state.sdk_runs  # type: ignore[attr-defined]
    kept = [rid for rid in run_ids if manager.runs[rid].log.items]
    assert kept == run_ids[-LOGS_KEPT:]  # the two oldest were forgotten, in order
    replay = [p.event async for p in client.runs.join_stream(tid, run_ids[-1])]
    assert replay.count("updates") == 3  # the newest replays every event
