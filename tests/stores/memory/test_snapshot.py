"""MemoryStore persistence: atomic snapshots, round trip without re-embedding."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from stores.memory.embeddings import HashingEmbeddings
from stores.memory.errors import MemoryStoreError
from stores.memory.store import MemoryStore

DIMS = 64


class CountingEmbeddings(HashingEmbeddings):
    """HashingEmbeddings that counts the texts it embeds."""

    def __init__(self) -> None:
        super().__init__(DIMS)
        self.texts = 0

    def embed_array(self, texts: Sequence[str]):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return super().embed_array(texts)


def build(path: Path | None = None, emb: CountingEmbeddings | None = None) -> MemoryStore:
    return MemoryStore(
        index={"dims": DIMS, "embed": emb or CountingEmbeddings(), "fields": ["text"]},
        path=path, exact_threshold=0,
    )  # fmt: skip


def populate(store: MemoryStore) -> None:
    store.put_many([(("calls", f"c{i % 3}"), f"k{i}", {"text": f"topic{i % 17} deal{i}", "i": i})
                    for i in range(500)])  # fmt: skip
    store.put(("notes",), "plain", {"text": "not indexed"}, index=False)
    for i in range(0, 500, 5):
        store.delete(("calls", f"c{i % 3}"), f"k{i}")


def snapshot(store: MemoryStore) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for query in ["topic3 deal3", "topic9", "deal100 topic0"]:
        out += [(r.namespace, r.key, r.value, round(r.score or 0, 5), r.created_at)
                for r in store.search(("calls",), query=query, limit=8)]  # fmt: skip
    out += [
        (r.key, r.value) for r in store.search(("calls",), filter={"i": {"$lt": 20}}, limit=100)
    ]
    return out


def test_round_trip_does_not_re_embed(tmp_path: Path) -> None:
    store = build()
    populate(store)
    before = snapshot(store)
    store.save(tmp_path / "mem")
    emb = CountingEmbeddings()
    loaded = MemoryStore.load(tmp_path / "mem", embed=emb, exact_threshold=0)
    assert emb.texts == 0
    assert snapshot(loaded) == before
    assert loaded.get(("notes",), "plain").value == {"text": "not indexed"}  # type: ignore[union-attr]
    assert loaded.list_namespaces() == store.list_namespaces()
    assert len(loaded) == len(store) == 401
    # Queries embed only the query texts (3 searches), still nothing from the items.
    assert emb.texts == 3
    # The loaded store keeps working: deletes stay deleted, freed slots are reused.
    capacity = loaded.stats()["capacity"]
    loaded.put_many([(("calls", "new"), f"n{i}", {"text": f"fresh{i}"}) for i in range(100)])
    assert loaded.stats()["capacity"] == capacity
    assert loaded.search(("calls",), query="fresh42", limit=1)[0].key == "n42"
    assert "k5" not in {r.key for r in loaded.search(("calls",), query="topic5 deal5", limit=20)}


def test_a_loaded_store_grows_and_never_writes_into_its_snapshot(tmp_path: Path) -> None:
    """The loaded vectors are mapped copy-on-write: writes (deletes, reused and new slots)
    change the store, not the snapshot's files, and new items past the saved ones fit."""
    store = build()
    populate(store)
    store.save(tmp_path / "mem")
    snap = tmp_path / "mem" / (tmp_path / "mem" / "CURRENT").read_text()
    files = {f.name: f.read_bytes() for f in snap.iterdir()}
    loaded = MemoryStore.load(tmp_path / "mem", embed=CountingEmbeddings(), exact_threshold=0)
    loaded.delete(("calls", "c1"), "k1")
    loaded.put_many([(("calls", "new"), f"n{i}", {"text": f"fresh{i}"}) for i in range(700)])
    assert len(loaded) == 401 - 1 + 700
    assert loaded.search(("calls",), query="fresh650", limit=1)[0].key == "n650"
    assert loaded.search(("calls",), query="topic3 deal3", limit=1)[0].key == "k3"
    assert {f.name: f.read_bytes() for f in snap.iterdir()} == files
    again = MemoryStore.load(tmp_path / "mem", embed=CountingEmbeddings(), exact_threshold=0)
    assert snapshot(again) == snapshot(store)


def test_save_replaces_the_previous_snapshot_atomically(tmp_path: Path) -> None:
    root = tmp_path / "mem"
    store = build(root)
    store.put(("a",), "k", {"text": "one"})
    first = store.save()
    store.put(("a",), "k2", {"text": "two"})
    second = store.save()
    assert first != second and not first.exists() and second.exists()
    assert (root / "CURRENT").read_text() == second.name
    # A half-written snapshot left by a crash is ignored by load.
    (root / ".tmp-crashed").mkdir()
    (root / ".tmp-crashed" / "meta.bin").write_bytes(b"garbage")
    loaded = MemoryStore.load(root, embed=CountingEmbeddings())
    assert {r.key for r in loaded.search(("a",))} == {"k", "k2"}


async def test_async_context_manager_loads_and_saves_when_dirty(tmp_path: Path) -> None:
    root = tmp_path / "mem"
    async with build(root) as store:
        await store.aput_many([(("a",), str(i), {"text": f"word{i}"}) for i in range(50)])
        assert store.dirty
    current = (root / "CURRENT").read_text()
    emb = CountingEmbeddings()
    async with build(root, emb) as store:
        assert emb.texts == 0 and len(store) == 50
        hits = await store.asearch(("a",), query="word7", limit=1)
        assert hits[0].key == "7"
        assert not store.dirty
    assert (root / "CURRENT").read_text() == current  # unchanged store: not saved again
    loaded = MemoryStore.load(root, embed=emb)
    loaded.put(("a",), "extra", {"text": "added after load"})
    async with loaded:  # already loaded and holding items: not reloaded (keeps "extra")
        assert len(loaded) == 51
    assert MemoryStore.load(root, embed=emb).get(("a",), "extra") is not None


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="no readable"):
        MemoryStore.load(tmp_path / "missing", embed=CountingEmbeddings())
    store = build()
    store.put(("a",), "k", {"text": "x"})
    store.save(tmp_path / "mem")
    with pytest.raises(MemoryStoreError, match="embed="):
        MemoryStore.load(tmp_path / "mem")
    other = MemoryStore(index={"dims": 32, "embed": HashingEmbeddings(32)}, path=tmp_path / "mem")
    with pytest.raises(MemoryStoreError, match="dims=64, distance=cosine, store has dims=32"):
        asyncio.run(other.__aenter__())
    with pytest.raises(MemoryStoreError, match="no path"):
        build().save()


def test_failed_save_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "mem"
    store = build(root)
    store.put(("a",), "k", {"text": "kept"})
    first = store.save()
    store.put(("a",), "bad", {"text": "x", "obj": object()})  # not serialisable
    with pytest.raises(MemoryStoreError, match="could not save"):
        store.save()
    assert store.dirty
    assert (root / "CURRENT").read_text() == first.name
    assert sorted(p.name for p in root.iterdir()) == sorted(["CURRENT", first.name])
    loaded = MemoryStore.load(root, embed=CountingEmbeddings())
    assert [r.key for r in loaded.search(("a",))] == ["k"]
