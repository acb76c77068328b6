"""The store API through the official `langgraph_sdk` client against a live server: a
`MemoryStore` of the app's own, persisted under the data dir, HNSW search through
``query``, TTLs, and every tenant in its own part of the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import PermissionDeniedError

from stores.settings import Settings
from tests.graphs.server.langgraph_api.sdk_support import as_tenant, live
from tests.graphs.server.live_server import ServerThread

DOCS = {
    "pricing": {"text": "the customer asked for a discount on pricing", "kind": "call",
                "meta": {"lang": "en"}},
    "security": {"text": "security review of the SSO integration", "kind": "call",
                 "meta": {"lang": "de"}},
    "renewal": {"text": "renewal date moved to next quarter", "kind": "note",
                "meta": {"lang": "en"}},
}  # fmt: skip


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with live(settings) as running:
        yield running


async def test_put_get_update_delete(server: ServerThread) -> None:
    store = get_client(url=server.url).store
    await store.put_item(["users", "ana"], "k1", {"text": "hello", "n": 1})
    item = await store.get_item(["users", "ana"], "k1")
    assert item is not None
    assert set(item) == {"namespace", "key", "value", "created_at", "updated_at"}
    assert item["namespace"] == ["users", "ana"] and item["key"] == "k1"
    assert item["value"] == {"text": "hello", "n": 1}
    await store.put_item(["users", "ana"], "k1", {"text": "hello again"})
    again = await store.get_item(["users", "ana"], "k1")
    assert again is not None and again["value"] == {"text": "hello again"}
    assert again["created_at"] == item["created_at"]
    assert datetime.fromisoformat(again["updated_at"]) >= datetime.fromisoformat(item["updated_at"])
    assert await store.get_item(["users", "ana"], "nope") is None  # null, as LangGraph
    await store.delete_item(["users", "ana"], "k1")
    assert await store.get_item(["users", "ana"], "k1") is None
    await store.delete_item(["users", "ana"], "k1")  # deleting nothing is fine


async def test_search_by_query_filter_and_page(server: ServerThread) -> None:
    store = get_client(url=server.url).store
    for key, value in DOCS.items():
        await store.put_item(["docs", "acme"], key, value)
    await store.put_item(["docs", "other"], "pricing-2", {"text": "pricing page", "kind": "x"})
    found = (await store.search_items(["docs", "acme"], query="discount pricing"))["items"]
    assert next(i["key"] for i in found) == "pricing"
    assert {i["key"] for i in found} == set(DOCS)  # the prefix scopes the search
    scores = [i["score"] for i in found]
    assert all(isinstance(s, float) for s in scores) and scores == sorted(scores, reverse=True)
    assert found[0]["namespace"] == ["docs", "acme"]
    calls = (await store.search_items(["docs"], query="pricing", filter={"kind": "call"}))
    assert {i["key"] for i in calls["items"]} == {"pricing", "security"}
    english = await store.search_items(["docs"], filter={"meta.lang": "en"})  # dotted key
    assert {i["key"] for i in english["items"]} == {"pricing", "renewal"}
    assert all(i["score"] is None for i in english["items"])  # no query: no score
    everything = (await store.search_items(["docs"], limit=10))["items"]
    assert len(everything) == 4
    page = (await store.search_items(["docs"], limit=2, offset=1))["items"]
    assert [i["key"] for i in page] == [i["key"] for i in everything[1:3]]


async def test_list_namespaces(server: ServerThread) -> None:
    store = get_client(url=server.url).store
    for ns in (["a", "b", "c"], ["a", "b", "d"], ["a", "x"], ["z"]):
        await store.put_item(ns, "k", {"v": 1})
    listed = (await store.list_namespaces())["namespaces"]
    assert listed == [["a", "b", "c"], ["a", "b", "d"], ["a", "x"], ["z"]]
    assert (await store.list_namespaces(prefix=["a", "b"]))["namespaces"] == [
        ["a", "b", "c"], ["a", "b", "d"]]  # fmt: skip
    assert (await store.list_namespaces(suffix=["d"]))["namespaces"] == [["a", "b", "d"]]
    assert (await store.list_namespaces(max_depth=1))["namespaces"] == [["a"], ["z"]]
    assert (await store.list_namespaces(limit=1, offset=1))["namespaces"] == [["a", "b", "d"]]


async def test_an_item_with_a_ttl_expires(server: ServerThread) -> None:
    store = get_client(url=server.url).store
    await store.put_item(["t"], "short", {"v": 1}, ttl=0.01)  # 0.6 seconds
    await store.put_item(["t"], "long", {"v": 1}, ttl=60)
    await store.put_item(["t"], "forever", {"v": 1})
    for _ in range(600):  # a generous deadline: the machine is loaded
        if await store.get_item(["t"], "short", refresh_ttl=False) is None:
            break
        await asyncio.sleep(0.05)
    assert await store.get_item(["t"], "short") is None
    assert {i["key"] for i in (await store.search_items(["t"]))["items"]} == {"long", "forever"}


async def test_each_tenant_has_its_own_store(server: ServerThread) -> None:
    ana = get_client(url=server.url, headers=as_tenant("ana")).store
    bob = get_client(url=server.url, headers=as_tenant("bob")).store
    await ana.put_item(["notes"], "k", {"text": "ana's pricing note"})
    await bob.put_item(["notes"], "k", {"text": "bob's pricing note"})
    assert (await ana.get_item(["notes"], "k"))["value"]["text"] == "ana's pricing note"  # type: ignore[index]
    assert (await bob.get_item(["notes"], "k"))["value"]["text"] == "bob's pricing note"  # type: ignore[index]
    found = (await bob.search_items([], query="pricing"))["items"]
    assert [i["value"]["text"] for i in found] == ["bob's pricing note"]
    assert (await ana.list_namespaces())["namespaces"] == [["notes"]]  # no tenant label
    await bob.delete_item(["notes"], "k")
    assert await ana.get_item(["notes"], "k") is not None
    reader = get_client(url=server.url, headers=as_tenant("ana", read_only=True)).store
    assert await reader.get_item(["notes"], "k") is not None
    with pytest.raises(PermissionDeniedError):
        await reader.put_item(["notes"], "k2", {"v": 1})
    with pytest.raises(PermissionDeniedError):
        await reader.delete_item(["notes"], "k")


async def test_bad_namespaces_filters_and_ttls_are_422(server: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        bad = [
            await http.put("/store/items", json={"namespace": ["a.b"], "key": "k", "value": {}}),
            await http.put("/store/items", json={"namespace": [], "key": "k", "value": {}}),
            await http.put("/store/items", json={"namespace": ["a"], "key": "k", "value": {},
                                                  "ttl": -1}),
            await http.get("/store/items", params={"namespace": "a..b", "key": "k"}),
            await http.post("/store/items/search",
                            json={"namespace_prefix": ["a"], "filter": {"n": {"$regex": "x"}}}),
            await http.post("/store/namespaces", json={"prefix": [""]}),
        ]
    assert [r.status_code for r in bad] == [422] * len(bad)
    details = [r.json()["detail"] for r in bad]
    assert "namespace[0]" in details[0] and "ttl" in details[2] and "$regex" in details[4]
    assert not any("tenant-" in d or "open" in d.split() for d in details)


async def test_the_store_survives_a_restart_and_has_one_process(settings: Settings) -> None:
    with live(settings) as first:
        store = get_client(url=first.url).store
        for key, value in DOCS.items():
            await store.put_item(["docs"], key, value)
        with live(settings) as second:  # the same data dir: the store is the first's
            async with httpx.AsyncClient(base_url=second.url, timeout=30) as http:
                refused = await http.get("/store/items", params={"namespace": "docs", "key": "x"})
            assert refused.status_code == 503 and "another process" in refused.json()["detail"]
    with live(settings) as restarted:
        store = get_client(url=restarted.url).store
        assert (await store.get_item(["docs"], "renewal"))["value"] == DOCS["renewal"]  # type: ignore[index]
        found = (await store.search_items(["docs"], query="discount on pricing"))["items"]
        assert found[0]["key"] == "pricing"
