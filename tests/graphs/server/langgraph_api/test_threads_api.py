"""Threads through the official `langgraph_sdk` client against a live server: update,
delete, count, copy, prune, search filters, state at a checkpoint, state updates,
history filters, supersteps, and what a run leaves on its thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import APIStatusError, NotFoundError
from openapi_spec_validator import validate as validate_openapi

from graphs.engine.thread_admin import copy_checkpoints
from graphs.server.langgraph_api.views import assistant_id_of
from stores.settings import Settings
from tests.graphs.server.langgraph_api.sdk_support import as_tenant, live
from tests.graphs.server.live_server import ServerThread

THREAD_FIELDS = {"thread_id", "created_at", "updated_at", "state_updated_at", "metadata",
                 "config", "status", "values", "interrupts", "error"}  # fmt: skip


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with live(settings) as running:
        yield running


def client_of(server: ServerThread, tenant: str, **options: Any) -> LangGraphClient:
    return get_client(url=server.url, headers=as_tenant(tenant, **options))


async def refusal(call: Any) -> tuple[int, str]:
    """The status and detail of a refused SDK call."""
    try:
        await call
    except APIStatusError as exc:
        return exc.status_code, exc.response.json()["detail"]
    except httpx.HTTPStatusError as exc:
        await exc.response.aread()
        return exc.response.status_code, exc.response.json()["detail"]
    raise AssertionError("the call was not refused")


async def said_thread(client: LangGraphClient, *words: str, **create: Any) -> str:
    """A thread on which echo ran once per word."""
    tid: str = (await client.threads.create(**create))["thread_id"]
    for word in words:
        await client.runs.wait(tid, "echo", input={"word": word})
    return tid


async def test_update_merges_metadata_and_a_run_records_its_graph(server: ServerThread) -> None:
    ana, bo = client_of(server, "acme"), client_of(server, "globex")
    made = await ana.threads.create(metadata={"team": "a", "deep": {"x": 1}})
    tid = made["thread_id"]
    assert set(made) == THREAD_FIELDS and made["config"] == {} and made["error"] is None
    updated = await ana.threads.update(tid, metadata={"deep": 2, "stage": "b"})
    assert updated["metadata"] == {"team": "a", "deep": 2, "stage": "b"}
    assert (await ana.threads.get(tid))["metadata"] == updated["metadata"]
    assert updated["updated_at"] >= made["updated_at"]
    # A run records its graph and assistant in the metadata and its config on the thread.
    await ana.runs.wait(tid, "echo", input={"word": "hi"}, config={"configurable": {"k": 1}})
    ran = await ana.threads.get(tid)
    assert ran["metadata"] == {**updated["metadata"], "graph_id": "echo",
                               "assistant_id": assistant_id_of("echo")}  # fmt: skip
    assert ran["config"]["configurable"]["k"] == 1
    assert ran["state_updated_at"] >= ran["created_at"]
    assert ran["values"]["said"] == ["hi"]
    # Refusals: another tenant's thread is unknown; a TTL is not served, not ignored.
    with pytest.raises(NotFoundError):
        await bo.threads.update(tid, metadata={"x": 1})
    status, detail = await refusal(ana.threads.update(tid, metadata={"x": 1}, ttl=5))
    assert status == 422 and "ttl" in detail
    with pytest.raises(NotFoundError):
        await ana.threads.update("no-such-thread", metadata={})
    status, detail = await refusal(ana.threads.update(tid, metadata={"graph_id": "nope"}))
    assert status == 422 and "graph_id" in detail
    assert (await ana.threads.get(tid))["metadata"] == ran["metadata"]


async def test_delete_removes_the_thread_and_its_checkpoints(server: ServerThread) -> None:
    ana, bo = client_of(server, "acme"), client_of(server, "globex")
    tid = await said_thread(ana, "one", "two")
    assert len(await ana.threads.get_history(tid, limit=100)) > 2
    runs = await ana.runs.list(tid)
    assert len(runs) == 2
    with pytest.raises(NotFoundError):  # another tenant's thread is unknown, and stays
        await bo.threads.delete(tid)
    await ana.threads.get(tid)
    await ana.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await ana.threads.get(tid)
    with pytest.raises(NotFoundError):
        await ana.threads.get_state(tid)
    with pytest.raises(NotFoundError):
        await ana.threads.delete(tid)
    # The same id is a new, empty thread: the old checkpoints and runs are gone.
    again = await ana.threads.create(thread_id=tid, graph_id="echo")
    assert again["values"] == {} and again["metadata"] == {"graph_id": "echo"}
    assert await ana.threads.get_history(tid, limit=100) == []
    assert (await ana.threads.get_state(tid))["values"] == {}
    assert await ana.runs.list(tid) == []


async def test_search_and_count_filter_in_the_database(server: ServerThread) -> None:
    ana = client_of(server, "filters")
    first = await said_thread(ana, "hi", metadata={"team": "a", "n": 1})
    second = await said_thread(ana, "yo", metadata={"team": "b", "n": 2, "tags": ["x", "y"]})
    third = (await ana.threads.create(metadata={"team": "a", "nested": {"k": 1, "j": 2}}))[
        "thread_id"
    ]
    await client_of(server, "other").threads.create(metadata={"team": "a"})

    async def ids(**filters: Any) -> set[str]:
        return {t["thread_id"] for t in await ana.threads.search(limit=100, **filters)}

    assert await ids() == {first, second, third}
    assert await ids(metadata={"team": "a"}) == {first, third}
    assert await ids(metadata={"nested": {"k": 1}}) == {third}
    assert await ids(metadata={"tags": ["y"]}) == {second}
    assert await ids(metadata={"n": 1}) == {first}
    assert await ids(metadata={"n": True}) == set()  # a number is not a boolean (jsonb)
    assert await ids(values={"said": ["yo"]}) == {second}
    assert await ids(values={"word": "hi"}, metadata={"team": "a"}) == {first}
    assert await ids(ids=[first, third, "unknown"]) == {first, third}
    assert await ids(status="idle", metadata={"team": "b"}) == {second}
    assert await ids(status="busy") == set()
    assert await ana.threads.count() == 3
    assert await ana.threads.count(metadata={"team": "a"}) == 2
    assert await ana.threads.count(values={"said": ["hi"]}) == 1
    assert await ana.threads.count(status="interrupted") == 0
    oldest_first = await ana.threads.search(sort_by="created_at", sort_order="asc")
    assert [t["thread_id"] for t in oldest_first] == [first, second, third]
    page = await ana.threads.search(sort_by="created_at", sort_order="asc", limit=1, offset=1)
    assert [t["thread_id"] for t in page] == [second]
    picked = await ana.threads.search(select=["thread_id", "status"], ids=[first])
    assert picked == [{"thread_id": first, "status": "idle"}]
    status, detail = await refusal(ana.threads.search(extract={"w": "values.word"}))
    assert status == 422 and "extract" in detail


async def test_copy_is_a_new_thread_with_the_same_checkpoints(server: ServerThread) -> None:
    ana, bo = client_of(server, "acme"), client_of(server, "globex")
    tid = await said_thread(ana, "hi", metadata={"team": "a"})
    original = await ana.threads.get(tid)
    copied = await ana.threads.copy(tid)
    cid = copied["thread_id"]
    assert cid != tid and copied["metadata"] == original["metadata"]
    assert copied["values"] == original["values"] and copied["config"] == original["config"]
    history = await ana.threads.get_history(tid, limit=100)
    copy_history = await ana.threads.get_history(cid, limit=100)
    assert [h["checkpoint"]["checkpoint_id"] for h in copy_history] == [
        h["checkpoint"]["checkpoint_id"] for h in history
    ]
    assert {h["checkpoint"]["thread_id"] for h in copy_history} == {cid}
    assert (await ana.threads.get_state(cid))["values"] == (await ana.threads.get_state(tid))[
        "values"
    ]
    # The copy goes on by itself; the original is unchanged.
    await ana.runs.wait(cid, "echo", input={"word": "more"})
    assert (await ana.threads.get_state(cid))["values"]["said"] == ["hi", "more"]
    assert (await ana.threads.get_state(tid))["values"]["said"] == ["hi"]
    with pytest.raises(NotFoundError):
        await bo.threads.copy(tid)
    # The copy is the caller's: the other tenant does not see it either.
    with pytest.raises(NotFoundError):
        await bo.threads.get(cid)


async def test_copy_without_acopy_thread_replays_the_checkpoints() -> None:
    """A checkpointer without ``acopy_thread`` (LangGraph's Postgres saver) is copied
    with its own list/put/put_writes: same checkpoints, same pending writes."""
    from langgraph.types import interrupt

    from tests.graphs.server.langgraph_api.sdk_support import _echo_graph

    class NoCopy(InMemorySaver):
        async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
            raise NotImplementedError

    builder = _echo_graph()
    builder.add_node("ask", lambda state: {"word": interrupt("again?")})
    builder.add_edge("echo", "ask")
    saver = NoCopy()
    graph = builder.compile(checkpointer=saver)
    await graph.ainvoke({"word": "hi"}, {"configurable": {"thread_id": "a"}})
    await copy_checkpoints(saver, "a", "b")
    before = [s async for s in graph.aget_state_history({"configurable": {"thread_id": "a"}})]
    after = [s async for s in graph.aget_state_history({"configurable": {"thread_id": "b"}})]
    assert [s.values for s in after] == [s.values for s in before]
    assert [s.config["configurable"]["checkpoint_id"] for s in after] == [
        s.config["configurable"]["checkpoint_id"] for s in before
    ]
    assert after[0].interrupts and after[0].interrupts[0].value == "again?"


async def test_prune_keeps_the_latest_checkpoint_or_deletes(server: ServerThread) -> None:
    ana, bo = client_of(server, "acme"), client_of(server, "globex")
    one = await said_thread(ana, "a", "b")
    two = await said_thread(ana, "c")
    theirs = await said_thread(bo, "d")
    state = await ana.threads.get_state(one)
    status, _ = await refusal(ana.threads.prune([one, theirs]))
    assert status == 404  # another tenant's id: nothing is pruned
    assert len(await ana.threads.get_history(one, limit=100)) > 1
    kept = await ana.threads.prune([one, two], strategy="keep_latest")
    assert kept == {"pruned_count": 2}
    for tid in (one, two):
        assert len(await ana.threads.get_history(tid, limit=100)) == 1
    assert (await ana.threads.get_state(one))["values"] == state["values"]
    assert (await ana.threads.get(one))["values"]["said"] == ["a", "b"]
    assert await ana.threads.prune([one, two]) == {"pruned_count": 2}
    for tid in (one, two):
        with pytest.raises(NotFoundError):
            await ana.threads.get(tid)
    assert await ana.threads.prune([]) == {"pruned_count": 0}
    status, detail = await refusal(ana.threads.prune([theirs], strategy="all"))  # type: ignore[arg-type]
    assert status == 422 and "strategy" in detail
    assert (await bo.threads.get(theirs))["thread_id"] == theirs


async def test_update_state_writes_checked_values(server: ServerThread) -> None:
    ana = client_of(server, "acme")
    tid = await said_thread(ana, "hi")
    before = await ana.threads.get_state(tid)
    written = await ana.threads.update_state(tid, {"said": ["x"], "word": "w"}, as_node="echo")
    checkpoint = written["checkpoint"]
    assert set(written) == {"checkpoint"} and checkpoint["thread_id"] == tid
    state = await ana.threads.get_state(tid)
    assert state["checkpoint"]["checkpoint_id"] == checkpoint["checkpoint_id"]
    assert state["values"]["said"] == ["hi", "x"] and state["values"]["word"] == "w"
    assert state["metadata"]["source"] == "update"
    assert state["parent_checkpoint_id"] == before["checkpoint_id"]
    assert (await ana.threads.get(tid))["values"]["said"] == ["hi", "x"]  # the row follows
    # Wrongly typed values, unknown keys and nodes are 422; nothing is stored.
    for values, as_node, named in [
        ({"said": "not a list"}, "echo", "values.said"),
        ({"nope": 1}, "echo", "values.nope"),
        ({"word": "w"}, "elsewhere", "as_node"),
        ([{"word": "w"}], "echo", "values"),
    ]:
        status, detail = await refusal(ana.threads.update_state(tid, values, as_node=as_node))
        assert status == 422 and named in detail, detail
    assert (await ana.threads.get_state(tid))["checkpoint_id"] == state["checkpoint_id"]
    # From an older checkpoint: a fork whose parent is that checkpoint.
    forked = await ana.threads.update_state(
        tid, {"word": "fork"}, as_node="echo", checkpoint_id=before["checkpoint_id"]
    )
    latest = await ana.threads.get_state(tid)
    assert latest["checkpoint_id"] == forked["checkpoint"]["checkpoint_id"]
    assert latest["parent_checkpoint_id"] == before["checkpoint_id"]
    assert latest["values"]["said"] == ["hi"] and latest["values"]["word"] == "fork"
    status, _ = await refusal(
        ana.threads.update_state(tid, {"word": "w"}, as_node="echo", checkpoint_id="nope")
    )
    assert status == 404
    fresh = (await ana.threads.create())["thread_id"]
    status, detail = await refusal(ana.threads.update_state(fresh, {"word": "w"}))
    assert status == 409 and "graph" in detail
    await ana.threads.update(fresh, metadata={"graph_id": "echo"})  # names its graph
    await ana.threads.update_state(fresh, {"word": "w"}, as_node="echo")
    assert (await ana.threads.get_state(fresh))["values"]["word"] == "w"
    with pytest.raises(NotFoundError):
        await client_of(server, "globex").threads.update_state(tid, {"word": "w"})


async def test_update_state_refuses_what_a_command_may_not_do(server: ServerThread) -> None:
    ana = client_of(server, "acme")
    tid = (await ana.threads.create(graph_id="deal_review"))["thread_id"]
    status, detail = await refusal(ana.threads.update_state(tid, {"report": {}}))
    assert status == 422 and "values.report" in detail  # only the graph's nodes write it
    status, detail = await refusal(
        ana.threads.update_state(tid, {"deal_ids": ["D-00001"]}, as_node="synthesis")
    )
    assert status == 422 and "as_node" in detail  # would skip the review
    assert await ana.threads.get_history(tid) == []


async def test_state_at_a_checkpoint_and_subgraphs(server: ServerThread) -> None:
    ana = client_of(server, "acme")
    tid = (await ana.threads.create())["thread_id"]
    await ana.runs.wait(tid, "nested", input={"word": "hi"})
    history = await ana.threads.get_history(tid, limit=100)
    pending = next(h for h in history if h["next"] == ["inner"])
    by_id = await ana.threads.get_state(tid, checkpoint_id=pending["checkpoint_id"])
    assert by_id == pending
    ref = {"checkpoint_id": pending["checkpoint_id"]}
    assert await ana.threads.get_state(tid, checkpoint=ref) == pending  # type: ignore[arg-type]
    task = pending["tasks"][0]
    assert task["name"] == "inner" and task["path"] and task["state"] is None
    assert task["checkpoint"]["checkpoint_ns"].startswith("inner:")
    deep = await ana.threads.get_state(tid, checkpoint_id=pending["checkpoint_id"], subgraphs=True)
    inner = deep["tasks"][0]["state"]
    assert inner is not None and inner["values"]["said"] == ["outer", "hi"]
    # A subgraph's own checkpoint, by namespace.
    namespaced = await ana.threads.get_state(
        tid, checkpoint={"checkpoint_ns": task["checkpoint"]["checkpoint_ns"]}
    )
    assert namespaced["values"]["said"] == inner["values"]["said"]
    with pytest.raises(NotFoundError):
        await ana.threads.get_state(tid, checkpoint_id="no-such-checkpoint")
    with pytest.raises(NotFoundError):
        await ana.threads.get_state(tid, checkpoint={"checkpoint_ns": "nowhere:1"})  # type: ignore[typeddict-item]
    status, detail = await refusal(ana.threads.get_state(tid, select=["values"]))
    assert status == 422 and "select" in detail


async def test_history_before_a_checkpoint_and_by_metadata(server: ServerThread) -> None:
    ana = client_of(server, "acme")
    tid = await said_thread(ana, "one", "two")
    history = await ana.threads.get_history(tid, limit=100)
    latest = history[0]
    assert latest["metadata"]["assistant_id"] == assistant_id_of("echo")
    assert latest["metadata"]["graph_id"] == "echo"
    assert latest["checkpoint_id"] == latest["checkpoint"]["checkpoint_id"]
    assert latest["parent_checkpoint_id"] == history[1]["checkpoint_id"]
    older = await ana.threads.get_history(tid, limit=100, before=history[1]["checkpoint"])
    assert [h["checkpoint_id"] for h in older] == [h["checkpoint_id"] for h in history[2:]]
    by_id = await ana.threads.get_history(tid, limit=100, before=history[1]["checkpoint_id"])
    assert by_id == older
    inputs = await ana.threads.get_history(tid, limit=100, metadata={"source": "input"})
    assert len(inputs) == 2 and all(h["metadata"]["source"] == "input" for h in inputs)
    run_id = latest["metadata"]["run_id"]
    of_run = await ana.threads.get_history(tid, limit=100, metadata={"run_id": run_id})
    assert of_run and {h["metadata"]["run_id"] for h in of_run} == {run_id}
    assert len(of_run) < len(history)
    status, detail = await refusal(ana.threads.get_history(tid, metadata={"a'b": 1}))
    assert status == 422 and "metadata" in detail


async def test_create_with_supersteps_applies_them_in_order(server: ServerThread) -> None:
    ana = client_of(server, "acme")
    made = await ana.threads.create(graph_id="echo", supersteps=[
        {"updates": [{"values": {"word": "a", "said": ["a"]}, "as_node": "echo"}]},
        {"updates": [{"values": {"said": ["b"]}, "as_node": "echo"}]},
    ])  # fmt: skip
    tid = made["thread_id"]
    assert made["values"] == {"word": "a", "said": ["a", "b"]}
    assert made["metadata"] == {"graph_id": "echo"}
    history = await ana.threads.get_history(tid, limit=100)
    assert [h["values"].get("said") for h in history][:2] == [["a", "b"], ["a"]]
    # The thread runs on from there.
    await ana.runs.wait(tid, "echo", input={"word": "c"})
    assert (await ana.threads.get_state(tid))["values"]["said"] == ["a", "b", "c"]
    # Refused supersteps leave no thread behind.
    for graph_id, supersteps, named in [
        ("echo", [{"updates": [{"values": {"said": "x"}, "as_node": "echo"}]}],
         "supersteps.0.updates.0.values.said"),
        ("echo", [{"updates": [{"values": {"word": "x"}, "as_node": "nowhere"}]}],
         "supersteps.0.updates.0.as_node"),
        (None, [{"updates": [{"values": {"word": "x"}, "as_node": "echo"}]}], "graph_id"),
        ("no_such_graph", None, "graph_id"),
    ]:  # fmt: skip
        status, detail = await refusal(ana.threads.create(
            thread_id="refused", graph_id=graph_id, supersteps=supersteps
        ))  # fmt: skip
        assert status == 422 and named in detail, detail
        with pytest.raises(NotFoundError):
            await ana.threads.get("refused")


async def test_read_only_callers_read_but_do_not_change(server: ServerThread) -> None:
    ana, reader = client_of(server, "acme"), client_of(server, "acme", read_only=True)
    tid = await said_thread(ana, "hi")
    assert await reader.threads.count() == 1
    assert len(await reader.threads.get_history(tid)) > 0
    state = await ana.threads.get_state(tid)
    assert await reader.threads.get_state(tid, checkpoint={"checkpoint_id": state["checkpoint_id"]})
    for call in [
        reader.threads.update(tid, metadata={"x": 1}),
        reader.threads.delete(tid),
        reader.threads.copy(tid),
        reader.threads.prune([tid]),
        reader.threads.update_state(tid, {"word": "w"}, as_node="echo"),
    ]:
        assert (await refusal(call))[0] == 403
    assert (await ana.threads.get(tid))["metadata"].get("x") is None


async def test_join_stream_is_refused_clearly(server: ServerThread) -> None:
    ana = client_of(server, "acme")
    tid = (await ana.threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=server.url, headers=as_tenant("acme")) as http:
        answer = await http.get(f"/threads/{tid}/stream")
        assert answer.status_code == 501 and "not served" in answer.json()["detail"]
        assert (await http.get("/threads/unknown/stream")).status_code == 404


async def test_openapi_documents_the_thread_routes(server: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        doc = (await http.get("/openapi.json")).json()
    validate_openapi(doc)
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert operations >= {
        "sdk_update_thread", "sdk_delete_thread", "sdk_count_threads", "sdk_copy_thread",
        "sdk_prune_threads", "sdk_update_thread_state", "sdk_thread_state_at",
        "sdk_thread_state_post", "sdk_join_thread_stream",
    }  # fmt: skip


async def test_a_busy_thread_is_not_deleted_pruned_or_updated(server: ServerThread) -> None:
    ana = client_of(server, "acme")
    tid = await said_thread(ana, "hi")
    threads = server.app.state.engine.durable.threads  # type: ignore[attr-defined]
    await threads.set_status(tid, "busy")  # as while a run (in any process) uses it
    for call in [
        ana.threads.delete(tid),
        ana.threads.prune([tid]),
        ana.threads.update_state(tid, {"word": "w"}, as_node="echo"),
    ]:
        status, detail = await refusal(call)
        assert status == 409 and "busy" in detail
    assert (await ana.threads.get_state(tid))["values"]["said"] == ["hi"]
    await threads.set_status(tid, "idle")
    await ana.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await ana.threads.get(tid)
