"""MemoryStore's HNSW behaviour: updates, deletes, slot reuse, growth, filters, tracing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stores.memory.embeddings import HashingEmbeddings
from stores.memory.errors import MemoryStoreError
from stores.memory.store import MemoryStore

DIMS = 64


def hnsw_store(**options: object) -> MemoryStore:
    """A store that always walks the graph (no exact shortcut)."""
    options.setdefault("exact_threshold", 0)
    return MemoryStore(
        index={"dims": DIMS, "embed": HashingEmbeddings(DIMS), "fields": ["text"]},
        **options,  # type: ignore[arg-type]
    )


def words(i: int) -> str:
    return f"alpha{i} beta{i % 7} gamma{i % 13}"


def test_update_replaces_the_old_vector() -> None:
    store = hnsw_store()
    store.put_many([(("d",), str(i), {"text": words(i)}) for i in range(300)])
    store.put(("d",), "5", {"text": "completely different zebra words"})
    hits = store.search(("d",), query="alpha5", limit=5)
    assert "5" not in [h.key for h in hits]
    top = store.search(("d",), query="completely different zebra words", limit=3)
    assert top[0].key == "5" and top[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.key for h in store.search(("d",), query="zebra", limit=50)].count("5") == 1
    assert store.stats()["vectors"] == 300


def test_update_with_index_false_drops_the_vector() -> None:
    store = hnsw_store()
    store.put_many([(("d",), str(i), {"text": words(i)}) for i in range(50)])
    store.put(("d",), "7", {"text": "alpha7 beta0 gamma7"}, index=False)
    assert store.stats()["vectors"] == 49
    hits = store.search(("d",), query="alpha7", limit=49)
    assert all(h.score is not None for h in hits) and "7" not in {h.key for h in hits}


def test_deleted_items_are_never_returned_and_slots_are_reused() -> None:
    store = hnsw_store(max_elements=256)
    store.put_many([(("d",), str(i), {"text": words(i)}) for i in range(256)])
    capacity = store.stats()["capacity"]
    for i in range(0, 256, 2):
        store.delete(("d",), str(i))
    for i in range(0, 256, 2):
        assert str(i) not in {h.key for h in store.search(("d",), query=words(i), limit=20)}
    store.put_many([(("d",), f"new{i}", {"text": f"fresh{i} words"}) for i in range(128)])
    stats = store.stats()
    assert stats["capacity"] == capacity  # the 128 freed slots were reused, no growth
    assert stats["vectors"] == 256 and stats["items"] == 256
    for i in (0, 17, 127):
        top = store.search(("d",), query=f"fresh{i}", limit=1)
        assert top[0].key == f"new{i}" and top[0].value == {"text": f"fresh{i} words"}


def test_index_grows_by_resizing() -> None:
    store = hnsw_store(max_elements=16)
    store.put_many([(("d",), str(i), {"text": words(i)}) for i in range(1000)])
    assert store.stats()["capacity"] >= 1000
    for i in (0, 500, 999):
        top = store.search(("d",), query=words(i), limit=1)[0]
        assert top.key == str(i) and top.score == pytest.approx(1.0, abs=1e-5)


def test_namespace_and_filter_are_applied_inside_the_search() -> None:
    store = hnsw_store()
    rows = [((("a",) if i % 2 else ("b",)), str(i), {"text": f"shared topic {words(i)}",
             "company": f"c{i % 50}"}) for i in range(3000)]  # fmt: skip
    store.put_many(rows)
    hits = store.search(("a",), query="shared topic", limit=10)
    assert len(hits) == 10 and all(h.namespace == ("a",) for h in hits)
    hits = store.search((), query="shared topic", filter={"company": "c3"}, limit=10)
    assert len(hits) == 10 and all(h.value["company"] == "c3" for h in hits)
    # Only 3 items pass the filter: all 3 come back (fewer than k survive the walk).
    store.put_many([(("z",), f"z{i}", {"text": "rare", "company": "solo"}) for i in range(3)])
    hits = store.search((), query="shared topic", filter={"company": "solo"}, limit=10)
    assert sorted(h.key for h in hits) == ["z0", "z1", "z2"]
    assert store.search(("b",), query="x", filter={"company": "solo"}) == []


def test_search_reports_an_event_with_k_ef_and_results(
    span_exporter: InMemorySpanExporter,
) -> None:
    from opentelemetry import trace

    exporter = span_exporter
    store = hnsw_store()
    store.put_many([(("d",), str(i), {"text": words(i)}) for i in range(100)])
    with trace.get_tracer("tests.memory").start_as_current_span("caller"):
        hits = store.search(("d",), query="alpha1", limit=4)
    assert not [s for s in exporter.get_finished_spans() if s.name == "memory.search"]
    (caller,) = [s for s in exporter.get_finished_spans() if s.name == "caller"]
    events = [e for e in caller.events if e.name == "memory.search"]
    assert events, "no memory.search event on the caller's span"
    attrs = events[-1].attributes or {}
    assert attrs["sophia.memory.k"] == 4
    assert attrs["sophia.memory.ef"] == 64
    assert attrs["sophia.memory.results"] == len(hits) == 4


def test_wrong_embedding_width_is_a_clear_error() -> None:
    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 2.0, 3.0] for _ in texts]

    store = MemoryStore(index={"dims": 8, "embed": embed, "fields": ["text"]})
    with pytest.raises(MemoryStoreError, match="dims=8"):
        store.put(("d",), "k", {"text": "x"})


def test_failing_embedder_is_wrapped() -> None:
    def embed(texts: Sequence[str]) -> list[list[float]]:
        raise RuntimeError("model exploded")

    store = MemoryStore(index={"dims": 8, "embed": embed, "fields": ["text"]})
    with pytest.raises(MemoryStoreError, match="model exploded") as info:
        store.put(("d",), "k", {"text": "x"})
    assert isinstance(info.value.__cause__, RuntimeError)


def test_scores_are_cosine_similarities() -> None:
    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [-1.0, 0.0], "q": [1.0, 0.0]}

    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [vectors[t] for t in texts]

    store = MemoryStore(index={"dims": 2, "embed": embed, "fields": ["text"]}, exact_threshold=0)
    for key in "abc":
        store.put(("d",), key, {"text": key})
    hits = store.search(("d",), query="q")
    assert [h.key for h in hits] == ["a", "b", "c"]
    assert np.allclose([h.score or 0.0 for h in hits], [1.0, 0.0, -1.0], atol=1e-5)


def test_equality_filters_stay_correct_across_updates_and_deletes() -> None:
    store = hnsw_store()
    store.put_many([(("d",), str(i), {"text": f"shared {words(i)}", "company": f"c{i % 10}",
                     "tier": i % 3, "vip": i % 2 == 0}) for i in range(2000)])  # fmt: skip
    # First use builds the field index; later writes must keep it current.
    hits = store.search(("d",), query="shared", filter={"company": "c1"}, limit=300)
    assert len(hits) == 200 and {h.value["company"] for h in hits} == {"c1"}
    store.put(("d",), "1", {"text": "moved", "company": "c2", "tier": 0, "vip": False})
    store.delete(("d",), "11")
    store.put(("d",), "new", {"text": "shared newcomer", "company": "c1", "tier": 2, "vip": True})
    keys = {
        h.key for h in store.search(("d",), query="shared", filter={"company": "c1"}, limit=300)
    }
    assert "1" not in keys and "11" not in keys and "new" in keys and len(keys) == 199
    assert "1" in {h.key for h in store.search(("d",), query="moved", filter={"company": "c2"})}
    both = store.search(("d",), query="shared", filter={"company": {"$eq": "c3"}, "tier": 0,
                        "vip": False}, limit=300)  # fmt: skip
    expected = {str(i) for i in range(2000) if i % 10 == 3 and i % 3 == 0 and i % 2 == 1}
    assert {h.key for h in both} == expected
    mixed = store.search(("d",), query="shared", filter={"company": "c4", "tier": {"$gt": 0}},
                         limit=300)  # fmt: skip
    assert {h.key for h in mixed} == {str(i) for i in range(2000) if i % 10 == 4 and i % 3}
    assert store.search(("d",), query="shared", filter={"company": "nobody"}) == []
