"""MemoryStore against LangGraph's BaseStore contract, compared with InMemoryStore.

LangGraph ships no importable store conformance suite (its store tests live in its
repository, not in the installed package), so these tests run the same operations on
`MemoryStore` and `InMemoryStore` and require the same answers where the semantics are
meant to match.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from stores.memory.embeddings import HashingEmbeddings
from stores.memory.store import MemoryStore

DIMS = 128
TOPICS = ["pricing", "security", "renewal", "onboarding", "integration", "support"]


def pair(**options: Any) -> tuple[MemoryStore, InMemoryStore]:
    emb = HashingEmbeddings(DIMS)
    fields = options.pop("fields", ["text"])
    ours = MemoryStore(index={"dims": DIMS, "embed": emb, "fields": fields}, **options)
    theirs = InMemoryStore(index={"dims": DIMS, "embed": emb, "fields": fields})
    return ours, theirs


def fill(store: BaseStore, n: int = 60) -> None:
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        ns = ("acme", "calls") if i % 3 else ("acme", "slack", f"c{i % 2}")
        value = {"text": f"{topic} conversation number {i} about {topic}", "n": i,
                 "topic": topic, "meta": {"team": "a" if i % 2 else "b"}}  # fmt: skip
        store.put(ns, f"k{i}", value)
    store.put(("globex",), "g1", {"text": "pricing at globex", "n": 1000, "topic": "pricing",
                                   "meta": {"team": "a"}})  # fmt: skip


def view(results: list[Any], scores: bool = False) -> list[Any]:
    def score(r: Any) -> tuple[Any, ...]:
        return (None if r.score is None else round(r.score, 4),) if scores else ()

    return [(r.namespace, r.key, r.value, *score(r)) for r in results]


def test_put_get_delete_roundtrip() -> None:
    ours, theirs = pair()
    for store in (ours, theirs):
        store.put(("a", "b"), "k", {"text": "hello world", "x": 1})
    got = ours.get(("a", "b"), "k")
    assert got is not None and got.value == {"text": "hello world", "x": 1}
    assert got.namespace == ("a", "b") and got.key == "k"
    assert ours.get(("a", "b"), "missing") is None
    assert ours.get(("nope",), "k") is None
    ours.delete(("a", "b"), "k")
    assert ours.get(("a", "b"), "k") is None
    assert ours.search(("a",), query="hello") == []


def test_update_keeps_created_at_and_changes_updated_at() -> None:
    ours, _ = pair()
    ours.put(("a",), "k", {"text": "first"})
    first = ours.get(("a",), "k")
    ours.put(("a",), "k", {"text": "second"})
    second = ours.get(("a",), "k")
    assert first is not None and second is not None
    assert second.value == {"text": "second"}
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at


@pytest.mark.parametrize(
    "flt",
    [
        None,
        {"topic": "pricing"},
        {"n": {"$gt": 10}},
        {"n": {"$gte": 10, "$lt": 30}},
        {"n": {"$lte": 5}},
        {"topic": {"$ne": "pricing"}},
        {"topic": {"$eq": "security"}},
        {"meta": {"team": "a"}},
        {"topic": "pricing", "meta": {"team": "b"}},
        {"topic": "nothing-matches"},
    ],
)
@pytest.mark.parametrize("prefix", [(), ("acme",), ("acme", "slack"), ("globex",), ("none",)])
def test_search_without_query_matches_inmemorystore(flt: Any, prefix: tuple[str, ...]) -> None:
    ours, theirs = pair()
    fill(ours)
    fill(theirs)
    for limit, offset in [(10, 0), (5, 3), (100, 0), (3, 50)]:
        assert view(ours.search(prefix, filter=flt, limit=limit, offset=offset)) == view(
            theirs.search(prefix, filter=flt, limit=limit, offset=offset)
        )


@pytest.mark.parametrize("exact_threshold", [10_000, 0])  # exact scan, and the HNSW walk
@pytest.mark.parametrize(
    "flt", [None, {"topic": "pricing"}, {"n": {"$gte": 20}}, {"meta": {"team": "a"}}]
)
@pytest.mark.parametrize("prefix", [(), ("acme",), ("acme", "calls")])
def test_vector_search_matches_inmemorystore(
    exact_threshold: int, flt: Any, prefix: tuple[str, ...]
) -> None:
    ours, theirs = pair(exact_threshold=exact_threshold)
    fill(ours)
    fill(theirs)
    for query in ["pricing conversation", "security number 7", "support about onboarding"]:
        for limit, offset in [(5, 0), (4, 2)]:
            mine = ours.search(prefix, query=query, filter=flt, limit=limit, offset=offset)
            ref = theirs.search(prefix, query=query, filter=flt, limit=limit, offset=offset)
            # Same scores in the same order; keys may differ only among exact score ties.
            scores = [round(r.score or 0.0, 4) for r in mine]
            assert all(r.score is not None for r in mine + ref)
            assert scores == [round(r.score or 0.0, 4) for r in ref]
            if mine:  # ties at either edge of the page may be broken differently
                hi, lo = scores[0], scores[-1]
                assert {(r.namespace, r.key) for r, sc in zip(mine, scores, strict=True)
                        if lo < sc < hi} == {
                    (r.namespace, r.key) for r in ref if lo < round(r.score or 0.0, 4) < hi
                }  # fmt: skip
            assert all(-1.0 <= sc <= 1.0 for sc in scores)


def test_search_pads_with_unindexed_items_like_inmemorystore() -> None:
    ours, theirs = pair()
    for store in (ours, theirs):
        store.put(("d",), "a", {"text": "pricing call"})
        store.put(("d",), "b", {"text": "pricing not indexed"}, index=False)
        store.put(("d",), "c", {"other": "no text field"})
    assert view(ours.search(("d",), query="pricing"), scores=True) == view(
        theirs.search(("d",), query="pricing"), scores=True
    )
    assert [r.key for r in ours.search(("d",), query="pricing")] == ["a", "b", "c"]
    assert ours.search(("d",), query="pricing")[1].score is None


def test_per_put_index_fields_and_multiple_vectors_per_item() -> None:
    ours, theirs = pair(fields=["title", "body"])
    for store in (ours, theirs):
        store.put(("d",), "1", {"title": "pricing", "body": "long talk about security"})
        store.put(("d",), "2", {"title": "security", "body": "pricing pricing"})
        store.put(("d",), "3", {"title": "renewal", "body": "nothing"}, index=["title"])
        store.put(("d",), "4", {"title": "x", "notes": ["security", "audit"]}, index=["notes[*]"])
    for query in ["security", "pricing", "renewal", "audit"]:
        mine = ours.search(("d",), query=query)
        ref = theirs.search(("d",), query=query)
        assert view(mine, scores=True) == view(ref, scores=True)
        assert len({r.key for r in mine}) == len(mine)  # one result per item, best score


def test_get_in_same_batch_sees_the_state_before_the_puts() -> None:
    ours, theirs = pair()
    for store in (ours, theirs):
        store.put(("a",), "k", {"text": "old"})
    ops: list[Any] = [PutOp(("a",), "k", {"text": "new"}), GetOp(("a",), "k"),
           SearchOp(("a",), query="old"), PutOp(("a",), "k", {"text": "newest"})]  # fmt: skip
    mine: list[Any] = ours.batch(ops)
    ref: list[Any] = theirs.batch(ops)
    assert mine[0] is None and mine[3] is None
    assert mine[1].value == ref[1].value == {"text": "old"}
    assert view(mine[2], scores=True) == view(ref[2], scores=True)
    assert ours.get(("a",), "k").value == {"text": "newest"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"prefix": ("acme",)},
        {"prefix": ("acme", "*")},
        {"suffix": ("c1",)},
        {"suffix": ("*", "c0")},
        {"prefix": ("acme",), "suffix": ("calls",)},
        {"max_depth": 1},
        {"max_depth": 2},
        {"prefix": ("acme",), "max_depth": 2},
        {"limit": 2},
        {"limit": 2, "offset": 1},
        {"prefix": ("missing",)},
    ],
)
def test_list_namespaces_matches_inmemorystore(kwargs: dict[str, Any]) -> None:
    ours, theirs = pair()
    fill(ours)
    fill(theirs)
    assert ours.list_namespaces(**kwargs) == theirs.list_namespaces(**kwargs)


def test_list_namespaces_drops_emptied_namespaces() -> None:
    ours, _ = pair()
    ours.put(("a", "b"), "k", {"text": "x"})
    ours.put(("a", "c"), "k", {"text": "y"})
    ours.delete(("a", "b"), "k")
    assert ours.list_namespaces() == [("a", "c")]


def test_namespace_validation_comes_from_basestore() -> None:
    ours, _ = pair()
    with pytest.raises(InvalidNamespaceError):
        ours.put(("langgraph", "x"), "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        ours.put(("a.b",), "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        ours.put((), "k", {"text": "x"})
    ours.put(("a",), "k", {"text": "x"}, ttl=None)
    assert ours.get(("a",), "k", refresh_ttl=False) is not None
    assert ours.search(("a",), refresh_ttl=True)


def test_store_without_index_is_a_key_value_store() -> None:
    store, ref = MemoryStore(), InMemoryStore()
    for s in (store, ref):
        s.put(("a",), "k1", {"text": "pricing", "n": 1})
        s.put(("a",), "k2", {"text": "security", "n": 2})
    assert view(store.search(("a",), query="pricing")) == view(ref.search(("a",), query="pricing"))
    assert store.get(("a",), "k2").value == {"text": "security", "n": 2}  # type: ignore[union-attr]


async def test_async_api_matches_sync() -> None:
    ours, theirs = pair()
    for i, topic in enumerate(TOPICS):
        await ours.aput(("a", str(i % 2)), f"k{i}", {"text": f"{topic} notes", "n": i})
        theirs.put(("a", str(i % 2)), f"k{i}", {"text": f"{topic} notes", "n": i})
    got = await ours.aget(("a", "0"), "k0")
    assert got is not None and got.value == {"text": "pricing notes", "n": 0}
    mine = await ours.asearch(("a",), query="security notes", limit=3)
    assert view(mine, scores=True) == view(
        theirs.search(("a",), query="security notes", limit=3), scores=True
    )
    assert await ours.alist_namespaces() == theirs.list_namespaces()
    await ours.adelete(("a", "1"), "k1")
    assert await ours.aget(("a", "1"), "k1") is None
    assert "k1" not in {r.key for r in await ours.asearch((), query="security", limit=10)}
