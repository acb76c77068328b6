"""What LangGraph's SQL stores enforce and `InMemoryStore` does not: namespaces checked
in `batch`, list prefixes, item TTLs with refresh and a sweeper, l2/inner-product ranking.

(Dotted filter keys reaching nested values are tested in test_filters.py.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from stores.memory.embeddings import HashingEmbeddings
from stores.memory.errors import MemoryStoreError
from stores.memory.store import MemoryStore


class Clock:
    """A wall clock the test moves by hand (epoch seconds)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


def store(**options: Any) -> MemoryStore:
    return MemoryStore(index={"dims": 64, "embed": HashingEmbeddings(64), "fields": ["text"]},
                       **options)  # fmt: skip


# -- namespaces in batch ---------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        PutOp(("a.b",), "k", {"text": "x"}),
        PutOp(("",), "k", {"text": "x"}),
        PutOp((), "k", {"text": "x"}),
        PutOp(("langgraph", "x"), "k", {"text": "x"}),
        PutOp(("a\x00",), "k", None),
        GetOp(("a.b",), "k"),
        SearchOp(("a", ""), query="x"),
        ListNamespacesOp((MatchCondition("prefix", ("x.y",)),)),
    ],
)
async def test_batch_rejects_namespaces_the_public_methods_reject(op: Any) -> None:
    ours = store()
    with pytest.raises(InvalidNamespaceError) as raised:
        ours.batch([op])
    assert isinstance(raised.value, MemoryStoreError)
    with pytest.raises(InvalidNamespaceError):
        await ours.abatch([op])
    assert len(ours) == 0


def test_inmemorystore_accepts_what_batch_now_rejects() -> None:
    # The difference this hardening removes: a dotted label would alias ("a", "b") in
    # any store that keeps namespaces as dotted text.
    theirs = InMemoryStore()
    theirs.batch([PutOp(("a.b",), "k", {"text": "x"})])
    assert theirs.batch([GetOp(("a.b",), "k")])[0] is not None
    theirs.put(("users",), "k", {"text": "x"})
    assert theirs.search(["users"]) == []  # type: ignore[arg-type]  # a list prefix finds nothing


# -- list namespaces ---------------------------------------------------------------------


def test_list_prefix_and_list_namespace_work_as_tuples() -> None:
    ours = store()
    ours.put(("users", "ada"), "k1", {"text": "pricing call"})
    ours.put(("users", "bob"), "k2", {"text": "pricing call"})
    by_list = ours.search(["users", "ada"])  # type: ignore[arg-type]
    assert [i.key for i in by_list] == ["k1"]
    by_query = ours.search(["users"], query="pricing")  # type: ignore[arg-type]
    assert {i.key for i in by_query} == {"k1", "k2"}
    (got,) = ours.batch([GetOp(["users", "bob"], "k2")])  # type: ignore[arg-type]
    assert isinstance(got, Item) and got.namespace == ("users", "bob")
    ours.batch([PutOp(["users", "cy"], "k3", {"text": "x"})])  # type: ignore[arg-type]
    assert ours.get(("users", "cy"), "k3") is not None
    assert ("users", "cy") in ours.list_namespaces(prefix=("users",))


# -- TTL -------------------------------------------------------------------------------


def test_an_item_expires_ttl_minutes_after_its_last_write() -> None:
    clock = Clock()
    ours = store(clock=clock)
    ours.put(("a",), "short", {"text": "pricing"}, ttl=10)
    ours.put(("a",), "forever", {"text": "pricing"})
    clock.advance(9)
    assert ours.get(("a",), "short", refresh_ttl=False) is not None
    clock.advance(2)  # 11 minutes after the write: gone, before any sweeper ran
    assert ours.get(("a",), "short") is None
    assert [i.key for i in ours.search(("a",), query="pricing")] == ["forever"]
    assert [i.key for i in ours.search(("a",))] == ["forever"]
    assert len(ours) == 1


def test_reads_refresh_the_ttl_unless_told_not_to() -> None:
    clock = Clock()
    ours = store(clock=clock)
    for key in ("read", "searched", "unrefreshed", "search_unrefreshed"):
        ours.put(("a",), key, {"text": key}, ttl=10)
    clock.advance(8)
    assert ours.get(("a",), "read") is not None  # refresh_on_read defaults to True
    assert [i.key for i in ours.search(("a",), filter={"text": "searched"})] == ["searched"]
    assert ours.get(("a",), "unrefreshed", refresh_ttl=False) is not None
    (found,) = ours.batch([SearchOp(("a",), {"text": "search_unrefreshed"}, refresh_ttl=False)])
    assert [i.key for i in found] == ["search_unrefreshed"]  # type: ignore[union-attr]
    clock.advance(8)  # 16 minutes after the writes, 8 after the reads
    assert {i.key for i in ours.search(("a",), refresh_ttl=False)} == {"read", "searched"}


def test_search_refresh_extends_only_what_it_returned() -> None:
    clock = Clock()
    ours = store(clock=clock)
    for key in ("hit", "miss"):
        ours.put(("a",), key, {"text": key}, ttl=10)
    clock.advance(8)
    assert [i.key for i in ours.search(("a",), filter={"text": "hit"})] == ["hit"]
    clock.advance(8)
    assert ours.get(("a",), "hit", refresh_ttl=False) is not None
    assert ours.get(("a",), "miss", refresh_ttl=False) is None


def test_ttl_config_default_ttl_and_refresh_on_read() -> None:
    clock = Clock()
    ours = store(clock=clock, ttl={"default_ttl": 5, "refresh_on_read": False})
    ours.put(("a",), "k", {"text": "x"})
    ours.put(("a",), "kept", {"text": "x"}, ttl=None)
    ours.put_many([(("a",), "bulk", {"text": "x"})])
    clock.advance(4)
    assert ours.get(("a",), "k") is not None  # does not refresh: refresh_on_read False
    clock.advance(2)
    assert ours.get(("a",), "k") is None
    assert ours.get(("a",), "bulk") is None
    assert ours.get(("a",), "kept") is not None


def test_a_bad_ttl_is_refused() -> None:
    with pytest.raises(MemoryStoreError, match="ttl must be a positive number"):
        store().put(("a",), "k", {"text": "x"}, ttl=-1)


async def test_the_sweeper_deletes_expired_items_without_a_read() -> None:
    clock = Clock()
    ours = store(clock=clock)
    await ours.aput(("a",), "k", {"text": "x"}, ttl=1)
    await ours.aput(("a",), "stays", {"text": "x"})
    task = await ours.start_ttl_sweeper(sweep_interval_minutes=0.001)
    assert await ours.start_ttl_sweeper() is task  # one sweeper per store
    clock.advance(2)
    for _ in range(3000):  # a generous deadline on a loaded machine
        if len(ours) == 1:
            break
        await asyncio.sleep(0.01)
    assert len(ours) == 1 and ours.dirty
    assert await ours.stop_ttl_sweeper(timeout=30)
    assert task.done()


async def test_expiry_survives_a_snapshot(tmp_path: Path) -> None:
    clock = Clock()
    async with store(clock=clock, path=tmp_path / "mem") as ours:
        await ours.aput(("a",), "k", {"text": "x"}, ttl=10)
        await ours.start_ttl_sweeper()
    loaded = MemoryStore.load(tmp_path / "mem", embed=HashingEmbeddings(64), clock=clock)
    assert loaded.get(("a",), "k", refresh_ttl=False) is not None
    clock.advance(11)
    assert loaded.get(("a",), "k") is None
    assert loaded.sweep_ttl() == 0  # the read already removed it
    assert len(loaded) == 0


# -- distances -------------------------------------------------------------------------


class Fixed(Embeddings):
    """Texts are vectors written as numbers: "3 4" embeds to [3, 4] (a test double)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in t.split()] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


VECTORS = {"far": "10 0", "near": "0.5 0.6", "mid": "2 1", "tiny": "0.1 0.09"}
QUERY = "1 0.9"  # tiny points the same way (cosine 1), near is closest, far is longest


def fixed_store(distance: str, **options: Any) -> MemoryStore:
    config: Any = {"dims": 2, "embed": Fixed(), "fields": ["v"], "distance_type": distance}
    return MemoryStore(index=config, **options)


def ranked(distance: str, query: str, exact_threshold: int) -> list[tuple[str, float]]:
    ours = fixed_store(distance, exact_threshold=exact_threshold)
    for key, text in VECTORS.items():
        ours.put(("a",), key, {"v": text})
    return [(i.key, round(i.score or 0.0, 4)) for i in ours.search(("a",), query=query)]


def expected(distance: str, query: str) -> list[tuple[str, float]]:
    q = np.array([float(x) for x in query.split()])
    out = []
    for key, text in VECTORS.items():
        v = np.array([float(x) for x in text.split()])
        if distance == "l2":
            score = -float(np.linalg.norm(v - q))
        elif distance == "inner_product":
            score = float(v @ q)
        else:
            score = float(v @ q / np.linalg.norm(v) / np.linalg.norm(q))
        out.append((key, round(score, 4)))
    return sorted(out, key=lambda kv: -kv[1])


@pytest.mark.parametrize("exact_threshold", [2048, 0], ids=["exact", "hnsw"])
@pytest.mark.parametrize("distance", ["cosine", "l2", "inner_product"])
def test_distance_types_rank_and_score_as_langgraphs_postgres_store(
    distance: str, exact_threshold: int
) -> None:
    got = ranked(distance, QUERY, exact_threshold)
    want = expected(distance, QUERY)
    assert [k for k, _ in got] == [k for k, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-3)
    first = {"cosine": "tiny", "l2": "near", "inner_product": "far"}[distance]
    assert got[0][0] == first


def test_an_unknown_distance_is_refused() -> None:
    with pytest.raises(MemoryStoreError, match="unknown distance 'hamming'"):
        fixed_store("hamming")


def test_the_distance_survives_a_snapshot(tmp_path: Path) -> None:
    ours = fixed_store("l2")
    for key, text in VECTORS.items():
        ours.put(("a",), key, {"v": text})
    ours.save(tmp_path / "mem")
    loaded = MemoryStore.load(tmp_path / "mem", embed=Fixed())
    got = [(i.key, round(i.score or 0.0, 4)) for i in loaded.search(("a",), query=QUERY)]
    want = expected("l2", QUERY)
    assert [k for k, _ in got] == [k for k, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-3)
