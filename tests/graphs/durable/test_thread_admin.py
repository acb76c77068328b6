"""Thread filters, metadata merges, copies, deletes and prunes on SQLite and on Postgres:
the SQL of `graphs.durable.threads` and the checkpointers' own copy/delete/prune."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graphs.durable.sql import json_contains
from graphs.durable.store import open_durable
from graphs.durable.thread_filters import ThreadFilter
from graphs.engine.run_record import RunRecord
from graphs.engine.thread_admin import copy_checkpoints
from stores.settings import Settings


class Counted(TypedDict, total=False):
    n: int


def _counter() -> Any:
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(Counted)
    graph.add_node("add", lambda state: {"n": state.get("n", 0) + 1})
    graph.add_edge(START, "add")
    graph.add_edge("add", END)
    return graph


def test_json_contains_is_jsonb_containment() -> None:
    doc = {"a": 1, "b": {"c": [1, 2, {"d": "x"}]}, "t": True, "z": None}
    for want in ({}, {"a": 1}, {"a": 1.0}, {"b": {"c": [2]}}, {"b": {"c": [{"d": "x"}]}},
                 {"t": True}, {"z": None}):  # fmt: skip
        assert json_contains(doc, want), want
    for want in ({"a": 2}, {"a": True}, {"t": 1}, {"b": {"c": [3]}}, {"q": None},
                 {"b": {"c": 1}}, {"a": "1"}):  # fmt: skip
        assert not json_contains(doc, want), want


async def test_thread_rows_filter_merge_copy_and_delete(durable_settings: Settings) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        threads = durable.threads
        await threads.create("f-1", {"team": "a", "tags": ["x", "y"]}, owner="o")
        await threads.create("f-2", {"team": "b", "n": 2}, owner="o")
        await threads.create("f-3", {"team": "a"}, owner="other")
        await threads.set_status("f-1", "idle", values={"said": ["hi"], "word": "hi"})

        async def ids(**where: Any) -> set[str]:
            return {r.thread_id for r in await threads.search(100, owner="o", **where)}

        assert await ids(metadata={"team": "a"}) == {"f-1"}
        assert await ids(metadata={"tags": ["y"]}) == {"f-1"}
        assert await ids(metadata={"n": 2.0}) == {"f-2"}
        assert await ids(metadata={"n": "2"}) == set()
        assert await ids(values={"said": ["hi"]}) == {"f-1"}
        assert await ids(values={"word": "yo"}) == set()
        assert await threads.count(ThreadFilter(owner="o")) == 2
        assert await threads.count(ThreadFilter(metadata={"team": "a"})) == 2
        assert await threads.count(ThreadFilter(owner="o", ids=[])) == 0
        ordered = await threads.search(100, owner="o", sort_by="thread_id", sort_order="asc")
        assert [r.thread_id for r in ordered] == ["f-1", "f-2"]

        merged = await threads.update_metadata("f-1", {"team": "c", "new": {"k": 1}}, owner="o")
        assert merged is not None
        assert merged.metadata == {"team": "c", "tags": ["x", "y"], "new": {"k": 1}}
        assert await threads.update_metadata("f-1", {"x": 1}, owner="other") is None
        await threads.run_started(
            "f-1", graph_id="echo", assistant_id="aid", config={"configurable": {"k": 1}}
        )
        started = await threads.get("f-1")
        assert started is not None and started.status == "busy"
        assert started.graph_id == "echo" and started.metadata["assistant_id"] == "aid"
        assert started.metadata["team"] == "c" and started.config == {"configurable": {"k": 1}}

        copied = await threads.copy(started, owner="o2")
        assert copied.thread_id != "f-1" and copied.owner == "o2"
        assert copied.status == "idle" and copied.values == {"said": ["hi"], "word": "hi"}
        assert copied.metadata == started.metadata and copied.config == started.config

        await durable.runs.put(RunRecord(run_id="r-1", graph="echo", thread_id="f-1"), owner="o")
        assert await threads.delete(["f-1", "f-1", "nope"]) == ["f-1"]
        assert await threads.get("f-1") is None and await durable.runs.get("r-1") is None
        assert await threads.exists(copied.thread_id)


async def test_checkpoints_copy_delete_and_prune(durable_settings: Settings) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        saver = durable.checkpointer
        graph = _counter().compile(checkpointer=saver)
        source = {"configurable": {"thread_id": "cp-a"}}
        for _ in range(3):
            await graph.ainvoke({}, source)  # type: ignore[arg-type]
        await copy_checkpoints(saver, "cp-a", "cp-b")  # Postgres: replayed with aput
        copy = {"configurable": {"thread_id": "cp-b"}}
        history = [s async for s in graph.aget_state_history(source)]  # type: ignore[arg-type]
        copied = [s async for s in graph.aget_state_history(copy)]  # type: ignore[arg-type]
        assert [s.values for s in copied] == [s.values for s in history]
        assert (await graph.aget_state(copy)).values == {"n": 3}  # type: ignore[arg-type]
        await graph.ainvoke({}, copy)  # type: ignore[arg-type]
        assert (await graph.aget_state(copy)).values == {"n": 4}  # type: ignore[arg-type]
        assert (await graph.aget_state(source)).values == {"n": 3}  # type: ignore[arg-type]

        await saver.aprune(["cp-a"], strategy="keep_latest")
        assert len([s async for s in graph.aget_state_history(source)]) == 1  # type: ignore[arg-type]
        assert (await graph.aget_state(source)).values == {"n": 3}  # type: ignore[arg-type]
        await saver.adelete_thread("cp-b")
        assert [s async for s in graph.aget_state_history(copy)] == []  # type: ignore[arg-type]
