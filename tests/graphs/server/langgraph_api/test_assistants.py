"""Assistants through the official `langgraph_sdk` client against a live server: saved,
versioned configurations of a graph, scoped to the caller's tenant, and what a run
started with one is given."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import (
    APIStatusError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)

from graphs.server.langgraph_api.views import assistant_id_of
from stores.settings import Settings
from tests.graphs.server.langgraph_api.sdk_support import ECHO, NESTED, as_tenant, live
from tests.graphs.server.live_server import ServerThread

FIELDS = {"assistant_id", "graph_id", "name", "description", "config", "context",
          "metadata", "version", "created_at", "updated_at"}  # fmt: skip


async def status_of(call: Any) -> int:
    """The HTTP status a refused SDK call got (runs.wait raises httpx's own error)."""
    try:
        await call
    except APIStatusError as exc:
        return exc.status_code
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code
    raise AssertionError("the call was not refused")


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with live(settings) as running:
        yield running


async def test_create_update_versions_set_latest_delete(server: ServerThread) -> None:
    client = get_client(url=server.url)
    made = await client.assistants.create(
        "echo", config={"configurable": {"word": "hi"}, "tags": ["t1"]},
        metadata={"team": "sales"}, name="Echo A", description="first",
    )  # fmt: skip
    aid = made["assistant_id"]
    assert set(made) == FIELDS and uuid.UUID(aid)
    assert made["version"] == 1 and made["graph_id"] == "echo" and made["name"] == "Echo A"
    assert made["context"] == {"word": "hi"}  # the configurable, mirrored (LangGraph)
    assert await client.assistants.get(aid) == made
    with pytest.raises(ConflictError):
        await client.assistants.create("echo", assistant_id=aid)
    same = await client.assistants.create("echo", assistant_id=aid, if_exists="do_nothing")
    assert same == made

    renamed = await client.assistants.update(aid, name="Echo B", metadata={"stage": 2})
    assert renamed["version"] == 2 and renamed["name"] == "Echo B"
    assert renamed["metadata"] == {"team": "sales", "stage": 2}  # merged
    assert renamed["config"] == made["config"] and renamed["description"] == "first"
    recontexted = await client.assistants.update(aid, context={"word": "yo"})
    assert recontexted["version"] == 3
    assert recontexted["config"] == {"configurable": {"word": "yo"}, "tags": ["t1"]}
    assert recontexted["context"] == {"word": "yo"}

    versions = await client.assistants.get_versions(aid)
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[2]["name"] == "Echo A" and versions[2]["config"] == made["config"]
    staged = await client.assistants.get_versions(aid, metadata={"stage": 2})
    assert [v["version"] for v in staged] == [3, 2]
    second = await client.assistants.get_versions(aid, limit=1, offset=1)
    assert [v["version"] for v in second] == [2]

    back = await client.assistants.set_latest(aid, 1)
    assert back["version"] == 1 and back["name"] == "Echo A"
    assert back["metadata"] == {"team": "sales"} and back["context"] == {"word": "hi"}
    assert (await client.assistants.get(aid))["version"] == 1
    # set_latest keeps the history: an update after it is numbered after the newest
    assert (await client.assistants.update(aid, name="Echo C"))["version"] == 4
    with pytest.raises(NotFoundError):
        await client.assistants.set_latest(aid, 99)

    await client.assistants.delete(aid)
    gone = (client.assistants.get(aid), client.assistants.get_versions(aid),
            client.assistants.delete(aid), client.assistants.update(aid, name="x"))  # fmt: skip
    for call in gone:
        with pytest.raises(NotFoundError):
            await call


async def test_search_and_count_filter_sort_page_and_select(server: ServerThread) -> None:
    client = get_client(url=server.url)
    for name, meta in (("Alpha echo", {"k": 1, "deep": {"a": 1, "b": 2}}),
                       ("beta ECHO", {"k": 2}), ("Gamma", {"k": 1})):  # fmt: skip
        await client.assistants.create("echo", name=name, metadata=meta)
    found = await client.assistants.search(graph_id="echo", limit=100)
    names = [a["name"] for a in found]
    assert names[:3] == ["Gamma", "beta ECHO", "Alpha echo"]  # newest first
    assert names[3:] == ["echo"]  # the system assistant (created at the epoch)
    assert {a["name"] for a in await client.assistants.search(name="echo", graph_id="echo")} == {
        "Alpha echo", "beta ECHO", "echo"}  # fmt: skip
    by_meta = await client.assistants.search(metadata={"k": 1})
    assert {a["name"] for a in by_meta} == {"Alpha echo", "Gamma"}
    nested = await client.assistants.search(metadata={"deep": {"a": 1}})
    assert [a["name"] for a in nested] == ["Alpha echo"]  # containment, as Postgres @>
    ordered = await client.assistants.search(graph_id="echo", sort_by="name", sort_order="asc")
    assert [a["name"] for a in ordered] == ["Alpha echo", "beta ECHO", "echo", "Gamma"]
    paged = await client.assistants.search(
        graph_id="echo", sort_by="name", sort_order="asc", limit=2, offset=1,
        response_format="object",
    )  # fmt: skip
    assert [a["name"] for a in paged["assistants"]] == ["beta ECHO", "echo"]
    assert paged["next"] == "3"
    last = await client.assistants.search(graph_id="echo", limit=2, offset=2,
                                          response_format="object")  # fmt: skip
    assert last["next"] is None
    picked = await client.assistants.search(graph_id="echo", select=["assistant_id", "name"])
    assert all(set(a) == {"assistant_id", "name"} for a in picked)
    assert await client.assistants.count(graph_id="echo") == 4
    assert await client.assistants.count(name="echo", metadata={"k": 2}) == 1
    assert await client.assistants.count() == 6  # 3 saved + deal_review, echo, nested
    with pytest.raises(NotFoundError):
        await client.assistants.count(graph_id="nope")


async def test_system_assistants_are_there_and_read_only(server: ServerThread) -> None:
    client = get_client(url=server.url)
    system = await client.assistants.get("echo")
    assert system["assistant_id"] == assistant_id_of("echo")
    assert system["metadata"] == {"created_by": "system"} and system["version"] == 1
    for call in (client.assistants.update("echo", name="mine"),
                 client.assistants.delete(assistant_id_of("echo"))):  # fmt: skip
        with pytest.raises(ConflictError, match="system assistant"):
            await call
    assert [v["version"] for v in await client.assistants.get_versions("echo")] == [1]
    assert (await client.assistants.set_latest("echo", 1))["version"] == 1
    with pytest.raises(ConflictError):
        await client.assistants.create("echo", assistant_id=assistant_id_of("echo"))


async def test_a_run_uses_its_assistants_config_under_its_own(server: ServerThread) -> None:
    client = get_client(url=server.url)
    saved = await client.assistants.create(
        "echo", context={"word": "from-assistant"}, config={"tags": ["saved"]}
    )
    aid = saved["assistant_id"]
    plain = await client.runs.wait(None, "echo", input={"word": "from-input"})
    assert plain["said"] == ["from-input"]
    with_assistant = await client.runs.wait(None, aid, input={"word": "from-input"})
    assert with_assistant["said"] == ["from-assistant"] and with_assistant["tags"] == ["saved"]
    overridden = await client.runs.wait(
        None, aid, input={}, config={"configurable": {"word": "from-run"}}
    )
    assert overridden["said"] == ["from-run"] and overridden["tags"] == ["saved"]
    # A later version is what the next run uses.
    await client.assistants.update(aid, context={"word": "version-2"})
    assert (await client.runs.wait(None, aid, input={}))["said"] == ["version-2"]
    tight = await client.assistants.create("echo", config={"recursion_limit": 1})
    with pytest.raises(Exception, match="GraphRecursionError"):  # the SDK raises __error__
        await client.runs.wait(None, tight["assistant_id"], input={})
    thread = await client.threads.create()
    on_thread = await client.runs.wait(thread["thread_id"], aid, input={})
    assert on_thread["said"] == ["version-2"]
    run = (await client.runs.list(thread["thread_id"]))[0]
    assert run["assistant_id"] == aid


async def test_bad_configs_and_ids_are_refused(server: ServerThread) -> None:
    client = get_client(url=server.url)
    refused: list[Any] = [
        client.assistants.create("echo", config={"callbacks": []}),  # not in LangGraph's Config
        client.assistants.create("echo", config={"configurable": {"thread_id": "x"}}),
        client.assistants.create("echo", config={"configurable": {"a": 1}}, context={"b": 2}),
        client.assistants.create("echo", assistant_id="not-a-uuid"),
        client.runs.wait(None, "echo", input={}, config={"configurable": {"__pregel_x": 1}}),
        client.runs.wait(None, "echo", input={}, config={"recursion_limit": 0}),
    ]
    for call in refused:
        assert await status_of(call) == 422
    with pytest.raises(NotFoundError, match="expected one of"):
        await client.assistants.create("no_such_graph")
    made = await client.assistants.create("echo")
    with pytest.raises(APIStatusError) as refused_threads:
        await client.assistants.delete(made["assistant_id"], delete_threads=True)
    assert refused_threads.value.status_code == 501
    assert "delete_threads" in str(refused_threads.value)
    assert (await client.assistants.get(made["assistant_id"]))["assistant_id"]


async def test_assistants_belong_to_their_tenant(server: ServerThread) -> None:
    ana = get_client(url=server.url, headers=as_tenant("ana"))
    bob = get_client(url=server.url, headers=as_tenant("bob"))
    mine = await ana.assistants.create("echo", name="ana's")
    aid = mine["assistant_id"]
    for call in (bob.assistants.get(aid), bob.assistants.update(aid, name="taken"),
                 bob.assistants.delete(aid), bob.assistants.get_versions(aid),
                 bob.assistants.get_graph(aid), bob.runs.wait(None, aid, input={})):  # fmt: skip
        assert await status_of(call) == 404
    assert [a["name"] for a in await bob.assistants.search(graph_id="echo")] == ["echo"]
    assert await bob.assistants.count(graph_id="echo") == 1
    with pytest.raises(ConflictError):  # the id is taken, whoever has it
        await bob.assistants.create("echo", assistant_id=aid, if_exists="do_nothing")
    assert (await ana.assistants.get(aid))["name"] == "ana's"

    reader = get_client(url=server.url, headers=as_tenant("ana", read_only=True))
    assert (await reader.assistants.get(aid))["name"] == "ana's"
    for call in (reader.assistants.create("echo"), reader.assistants.update(aid, name="x"),
                 reader.assistants.delete(aid), reader.assistants.set_latest(aid, 1)):  # fmt: skip
        with pytest.raises(PermissionDeniedError):
            await call

    echo_only = get_client(url=server.url, headers=as_tenant("ana", graphs="echo"))
    assert {a["graph_id"] for a in await echo_only.assistants.search(limit=100)} == {"echo"}
    with pytest.raises(NotFoundError):
        await echo_only.assistants.get("deal_review")
    with pytest.raises(NotFoundError):
        await echo_only.assistants.create("nested")


async def test_graph_schemas_and_subgraphs_as_langgraph_draws_them(server: ServerThread) -> None:
    client = get_client(url=server.url)
    compiled = NESTED.build().compile(name="nested")
    drawn = await client.assistants.get_graph("nested")
    expected = compiled.get_graph().to_json()
    for node in expected["nodes"]:
        node.get("data", {}).pop("id", None) if isinstance(node.get("data"), dict) else None
    assert drawn == expected
    assert {n["id"] for n in drawn["nodes"]} == {"__start__", "outer", "inner", "__end__"}
    xray = await client.assistants.get_graph("nested", xray=True)
    assert {"inner:echo"} <= {n["id"] for n in xray["nodes"]}
    assert len((await client.assistants.get_graph("nested", xray=1))["nodes"]) == len(xray["nodes"])
    async with httpx.AsyncClient(base_url=server.url) as http:
        path = f"/assistants/{assistant_id_of('nested')}/graph"
        bad = await http.get(path, params={"xray": "-1"})
    assert bad.status_code == 422 and "xray" in bad.json()["detail"]

    schemas = await client.assistants.get_schemas("echo")
    assert schemas["graph_id"] == "echo"
    assert schemas["input_schema"] == ECHO.input_schema()  # what a run accepts
    assert set(schemas["state_schema"]["properties"]) == {"word", "said", "tags"}
    assert set(schemas["output_schema"]["properties"]) == {"word", "said", "tags"}
    deal = await client.assistants.get_schemas("deal_review")
    assert "deal_ids" in deal["input_schema"]["properties"]
    assert deal["context_schema"] is None  # the engine's resources: no caller sends them

    subgraphs = await client.assistants.get_subgraphs("nested")
    assert list(subgraphs) == ["inner"]
    assert set(subgraphs["inner"]["state_schema"]["properties"]) == {"word", "said", "tags"}
    assert await client.assistants.get_subgraphs("echo") == {}
    assert list(await client.assistants.get_subgraphs("nested", namespace="inner")) == ["inner"]


async def test_assistants_survive_a_restart(settings: Settings) -> None:
    with live(settings) as first:
        made = await get_client(url=first.url).assistants.create("echo", name="kept")
        await get_client(url=first.url).assistants.update(made["assistant_id"], name="kept 2")
    with live(settings) as second:
        client = get_client(url=second.url)
        assert (await client.assistants.get(made["assistant_id"]))["name"] == "kept 2"
        assert len(await client.assistants.get_versions(made["assistant_id"])) == 2
