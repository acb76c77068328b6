"""Stream modes of the LangGraph API through the official ``langgraph_sdk`` client: each is
what LangGraph's own ``astream`` produces for the same graph, named as LangGraph's server
names it (``messages-tuple`` is LangGraph's ``messages``; ``messages`` accumulates
per message; ``events`` is ``astream_events``; ``mode|ns`` for subgraphs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph_sdk import get_client
from langgraph_sdk.errors import UnprocessableEntityError

from graphs.server.encoding import dumps
from stores.settings import Settings
from tests.graphs.server.langgraph_api import run_support
from tests.graphs.server.langgraph_api.run_support import REPLY, live
from tests.graphs.server.live_server import ServerThread

MODES = ["values", "updates", "custom", "tasks", "checkpoints", "debug"]


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with live(settings) as running:
        yield running


def _json(value: Any) -> Any:
    return json.loads(dumps(value))


async def _own_astream(graph: str, modes: list[str], **options: Any) -> list[tuple[Any, ...]]:
    """What LangGraph's own astream yields for `graph` on a fresh thread (as JSON)."""
    builder = {spec.name: spec for spec in run_support.registry()}[graph].build()
    compiled = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "own"}}
    return [_json(part) async for part in compiled.astream(
        {"word": "hey"}, config, stream_mode=modes, **options)]  # fmt: skip


async def test_langgraph_modes_are_what_astream_produces(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    parts = [p async for p in client.runs.stream(tid, "steps", input={"word": "hey"},
                                                 stream_mode=MODES)]  # fmt: skip
    assert parts[0].event == "metadata" and parts[0].data["run_id"]
    ids = [int(p.id) for p in parts]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # every event numbered, in order
    got = [(p.event, p.data) for p in parts[1:]]
    own = await _own_astream("steps", MODES)
    assert [mode for mode, _ in got] == [mode for mode, _ in own]
    exact = ("values", "updates", "custom")
    assert [c for m, c in got if m in exact] == [c for m, c in own if m in exact]
    assert [c for m, c in got if m == "custom"] == [{"step": "a"}, {"step": "b"}, {"step": "c"}]
    # tasks, checkpoints and debug carry ids and times of their own run: same shape
    assert [(c["name"], "result" in c) for m, c in got if m == "tasks"] == [
        (c["name"], "result" in c) for m, c in own if m == "tasks"]  # fmt: skip
    assert [c["next"] for m, c in got if m == "checkpoints"] == [
        c["next"] for m, c in own if m == "checkpoints"]  # fmt: skip
    assert [(c["type"], c["step"]) for m, c in got if m == "debug"] == [
        (c["type"], c["step"]) for m, c in own if m == "debug"]  # fmt: skip
    # the checkpoints streamed are the thread's own
    state = await client.threads.get_state(tid)
    last = [c for m, c in got if m == "checkpoints"][-1]
    assert last["config"]["configurable"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]

    only = [p.event async for p in client.runs.stream(None, "steps", stream_mode="custom")]
    assert only == ["metadata", "custom", "custom", "custom"]


async def test_messages_tuple_and_messages(server: ServerThread) -> None:
    client = get_client(url=server.url)
    modes = ["messages-tuple", "messages"]
    parts = [p async for p in client.runs.stream(None, "chat", input={"word": "hey"},
                                                 stream_mode=modes)]  # type: ignore[arg-type]  # fmt: skip
    tuples = [p.data for p in parts if p.event == "messages"]
    own = await _own_astream("chat", ["messages"])
    assert [m["content"] for m, _ in tuples] == [m["content"] for _, (m, _) in own]
    assert "".join(m["content"] for m, _ in tuples) == REPLY
    assert all(meta["langgraph_node"] == "talk" for _, meta in tuples)

    (meta,) = [p.data for p in parts if p.event == "messages/metadata"]
    assert meta["reply-1"]["metadata"]["langgraph_node"] == "talk"
    partial = [p.data for p in parts if p.event == "messages/partial"]
    assert len(partial) == len(tuples)  # one per token, each the message so far
    assert [m[0]["content"] for m in partial][-1] == REPLY
    assert partial[1][0]["content"] == tuples[0][0]["content"] + tuples[1][0]["content"]
    assert partial[-1][0]["type"] == "ai" and partial[-1][0]["id"] == "reply-1"
    first_meta = next(i for i, p in enumerate(parts) if p.event == "messages/metadata")
    first_partial = next(i for i, p in enumerate(parts) if p.event == "messages/partial")
    assert first_meta < first_partial


async def test_events_are_astream_events(server: ServerThread) -> None:
    client = get_client(url=server.url)
    parts = [p async for p in client.runs.stream(None, "chat", input={"word": "hey"},
                                                 stream_mode=["events", "values"])]  # fmt: skip
    events = [p.data for p in parts if p.event == "events"]
    assert events[0]["event"] == "on_chain_start" and events[0]["name"] == "chat"
    tokens = [e["data"]["chunk"]["content"] for e in events
              if e["event"] == "on_chat_model_stream"]  # fmt: skip
    assert "".join(tokens) == REPLY
    assert events[-1]["event"] == "on_chain_end"
    values = [p.data for p in parts if p.event == "values"]  # the graph's own chunks too
    assert values[-1]["messages"][-1]["content"] == REPLY


async def test_subgraphs_are_named_mode_and_namespace(server: ServerThread) -> None:
    client = get_client(url=server.url)
    parts = [p async for p in client.runs.stream(None, "nested", input={"word": "hey"},
                                                 stream_mode=["values", "updates"],
                                                 stream_subgraphs=True)]  # fmt: skip
    own = await _own_astream("nested", ["values", "updates"], subgraphs=True)
    expected = [mode if not ns else f"{mode}|{'|'.join(ns)}" for ns, mode, _ in own]
    got = [p.event for p in parts[1:]]
    # the task ids in a namespace are the run's own: compare up to the ':'
    assert [e.split(":")[0] for e in got] == [e.split(":")[0] for e in expected]
    inner = [p for p in parts if p.event.startswith("updates|inner:")]
    assert inner and inner[0].data == {"echo": {"said": ["hey"], "tags": []}}
    flat = [p.event async for p in client.runs.stream(None, "nested", stream_mode="updates")]
    assert flat == ["metadata", "updates", "updates"]


async def test_modes_langgraph_cannot_stream_are_refused(server: ServerThread) -> None:
    client = get_client(url=server.url)
    for mode in ("tools", "lifecycle"):
        with pytest.raises(UnprocessableEntityError) as refused:
            async for _ in client.runs.stream(None, "steps", stream_mode=["values", mode]):
                pass
        detail = refused.value.body["detail"]  # type: ignore[index]
        assert mode in detail and "stream_mode" in detail
