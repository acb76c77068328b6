"""`MemoryStore`: a LangGraph `BaseStore` whose semantic search runs on an HNSW index.

Semantics follow LangGraph's `InMemoryStore` (namespaces, ``filter`` with the
``$eq/$ne/$gt/$gte/$lt/$lte`` operators, limit/offset, ``index=False`` and per-put
fields, several vectors per item with the best score per item, search without a query,
``list_namespaces`` with prefix/suffix/max_depth), with these deliberate differences:

* filters are `stores.memory.filters`: dotted keys reach nested fields
  (``{"author.name": "Ada"}``), ordering compares numbers with numbers and strings with
  strings (other pairs never match instead of raising), an unknown operator is a
  `MemoryStoreError`;

* vector search is approximate (HNSW, cosine; scores are cosine similarities in
  [-1, 1]); namespace prefix and ``filter`` are applied *inside* the graph walk through
  hnswlib's label filter, not by over-fetching. The namespace prefix and the
  equality conditions (``{"company_id": "c1"}`` or ``{"$eq": ...}`` on str/int/bool)
  become a label mask computed with numpy and a field index; other conditions are
  checked per visited label. When the mask allows at most ``exact_threshold`` vectors
  the search is an exact scan of those (the walk would visit the whole graph anyway);
* a selective filter that is not an equality (e.g. ``{"n": {"$gt": 99}}`` matching a
  handful of items) still makes the walk visit most of the graph: use namespaces or
  equality fields for scoping (the bench shows both);
* an update keeps the item's ``created_at``; an update with ``index=False`` drops the
  item's old vectors (InMemoryStore would keep searching the stale ones);
* ``list_namespaces`` lists namespaces that hold at least one item;
* TTLs are not supported (``refresh_ttl`` is accepted and ignored, as InMemoryStore).

Defaults M=16, ef_construction=64, ef_search=64 were chosen with
``uv run python -m bench.vector_search --sweep`` (20,000 vectors of 384 dims, 200
queries, recall@10 against exact search, build rate on 2 shared cores):

=============================  =========  =========  ===============
data                           M/ef_c/ef  recall@10  build vectors/s
=============================  =========  =========  ===============
clustered (50 clusters)        16/64/64   1.000      ~5,200
hashed short texts             16/64/64   0.999      ~5,500
hashed short texts             16/100/64  1.000      ~3,500
hashed short texts             12/64/64   0.994      ~5,800
hashed short texts             16/64/32   0.980      ~5,500
hashed short texts             8/64/64    0.970      ~6,600
=============================  =========  =========  ===============

ef_construction=100 buys no recall for 1.6x the build time; M=8 or ef=32 lose recall.
Search p50 is ~0.2 ms at this size. tests/stores/memory/test_memory_store_recall.py checks
recall@10 >= 0.95 with the defaults on 64-dim isotropic clusters.

Concurrency: a readers-writer lock guards the index and the items; searches share it,
writes hold it alone in slices of ``write_chunk`` items so searches interleave with a
large bulk load. The async methods do all locked work in a worker thread
(`asyncio.to_thread`), so the event loop never waits on the index.

The items and their vectors' labels are `stores.memory.items`, a search over them
`stores.memory.search`; this module is the `BaseStore` around them, with persistence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchOp,
    ensure_embeddings,
)

from stores.memory.embeddings import FieldEmbedder
from stores.memory.errors import MemoryStoreError
from stores.memory.hnsw import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_EXACT_THRESHOLD,
    DEFAULT_M,
    FloatArray,
    HnswIndex,
)
from stores.memory.items import ItemTable, Namespace, PreparedPut
from stores.memory.rwlock import RWLock
from stores.memory.search import search
from stores.memory.snapshot import has_snapshot, read_snapshot, write_meta, write_snapshot

logger = logging.getLogger(__name__)

_SNAPSHOT_VERSION = 1


class MemoryStore(BaseStore):
    """A LangGraph `BaseStore` with HNSW vector search, persistence and bulk loading.

    Args:
        index: ``{"dims": int, "embed": Embeddings | callable, "fields": [...]}`` as for
            LangGraph stores; None: a key-value store without vector search.
        path: directory for `save`/`load`; ``async with`` loads it when present and
            saves on exit when anything changed.
        m, ef_construction, ef_search, max_elements: HNSW parameters (see the module
            doc for how the defaults were measured); the index grows past
            ``max_elements`` by doubling.
        batch_size: texts embedded per call in bulk puts.
        write_chunk: items applied per exclusive-lock hold.
        exact_threshold: allowed-set size at or below which a search is an exact scan.
        num_threads: hnswlib threads for adding a batch (-1: all cores).
    """

    supports_ttl = False

    def __init__(
        self,
        index: IndexConfig | None = None,
        path: Path | str | None = None,
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        max_elements: int = 1024,
        batch_size: int = 2048,
        write_chunk: int = 512,
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
        num_threads: int = -1,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.batch_size = max(1, batch_size)
        self.write_chunk = max(1, write_chunk)
        self._params = {"ef_search": ef_search, "exact_threshold": exact_threshold,
                        "num_threads": num_threads}  # fmt: skip
        self.index_config: dict[str, Any] | None = None
        self.embeddings: Embeddings | None = None
        self._embedder: FieldEmbedder | None = None
        self._index: HnswIndex | None = None
        if index:
            if "dims" not in index or "embed" not in index:
                raise MemoryStoreError("index config needs 'dims' and 'embed'")
            self.index_config = dict(index)
            self.embeddings = ensure_embeddings(index["embed"])
            self._embedder = FieldEmbedder(
                self.embeddings, int(index["dims"]), index.get("fields") or ["$"]
            )
            self._index = HnswIndex(
                int(index["dims"]), m=m, ef_construction=ef_construction,
                ef_search=ef_search, max_elements=max_elements, num_threads=num_threads,
                exact_threshold=exact_threshold,
            )  # fmt: skip
        self._lock = RWLock()
        self._items = ItemTable()
        self._dirty = False

    # ------------------------------------------------------------- properties

    @property
    def dirty(self) -> bool:
        """True when the store changed since it was last saved or loaded."""
        return self._dirty

    def __len__(self) -> int:
        with self._lock.read():
            return self._items.count()

    def stats(self) -> dict[str, Any]:
        """Counts and index parameters, for diagnostics."""
        with self._lock.read():
            out: dict[str, Any] = {
                "items": self._items.count(),
                "namespaces": len(self._items.data),
            }
            if self._index is not None:
                out |= {"vectors": self._index.live_count, "capacity": self._index.capacity,
                        "m": self._index.m, "ef_construction": self._index.ef_construction,
                        "ef_search": self._index.ef_search}  # fmt: skip
            return out

    # ---------------------------------------------------------------- batches

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops``: reads see the state before this batch's puts (as InMemoryStore)."""
        ops = list(ops)
        queries = self._embedder.embed_queries(_queries(ops)) if self._embedder else {}
        results = self._run_reads(ops, queries)
        puts = _dedupe_puts(ops)
        for start in range(0, len(puts), self.batch_size):
            chunk = puts[start : start + self.batch_size]
            self._apply(self._prepare(chunk, self._embed_puts(chunk)))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async `batch`: embeddings awaited, index and item work done in a worker thread."""
        ops = list(ops)
        queries = await self._embedder.aembed_queries(_queries(ops)) if self._embedder else {}
        results = await asyncio.to_thread(self._run_reads, ops, queries)
        puts = _dedupe_puts(ops)
        for start in range(0, len(puts), self.batch_size):
            chunk = puts[start : start + self.batch_size]
            texts = await self._embedder.aembed_puts(chunk) if self._embedder else {}
            await asyncio.to_thread(self._apply, self._prepare(chunk, texts))
        return results

    def put_many(
        self,
        items: Sequence[tuple[Namespace, str, Mapping[str, Any]]],
        *,
        index: Literal[False] | list[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Bulk put: embeds ``batch_size`` texts per call, one hnswlib add per batch.

        ``progress`` is called with the number of items stored after each batch.
        """
        for start in range(0, len(items), self.batch_size):
            chunk = [
                PutOp(ns, str(k), v, index=index)
                for ns, k, v in items[start : start + self.batch_size]
            ]
            self._apply(self._prepare(chunk, self._embed_puts(chunk)))
            if progress is not None:
                progress(len(chunk))

    async def aput_many(
        self,
        items: Sequence[tuple[Namespace, str, Mapping[str, Any]]],
        *,
        index: Literal[False] | list[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Async `put_many`; the event loop stays free while batches are embedded and added."""
        for start in range(0, len(items), self.batch_size):
            chunk = [
                PutOp(ns, str(k), v, index=index)
                for ns, k, v in items[start : start + self.batch_size]
            ]
            texts = await self._embedder.aembed_puts(chunk) if self._embedder else {}
            await asyncio.to_thread(self._apply, self._prepare(chunk, texts))
            if progress is not None:
                progress(len(chunk))

    # ------------------------------------------------------------------ writes

    def _embed_puts(self, puts: Sequence[PutOp]) -> dict[str, FloatArray]:
        return self._embedder.embed_puts(puts) if self._embedder is not None else {}

    def _prepare(self, puts: Sequence[PutOp], vectors: dict[str, FloatArray]) -> list[PreparedPut]:
        prepared = []
        for op in puts:
            if op.value is None:
                prepared.append(PreparedPut(op.namespace, op.key, None, None))
                continue
            texts = self._embedder.texts(op) if self._embedder is not None else []
            rows = np.stack([vectors[t] for t in texts]) if texts else None
            prepared.append(PreparedPut(op.namespace, op.key, dict(op.value), rows))
        return prepared

    def _apply(self, prepared: Sequence[PreparedPut]) -> None:
        for start in range(0, len(prepared), self.write_chunk):
            with self._lock.write():
                self._items.apply(prepared[start : start + self.write_chunk], self._index)
        if prepared:
            self._dirty = True

    # ------------------------------------------------------------------- reads

    def _run_reads(self, ops: Sequence[Op], queries: Mapping[str, FloatArray]) -> list[Result]:
        results: list[Result] = []
        with self._lock.read():
            for op in ops:
                if isinstance(op, GetOp):
                    results.append(self._items.get(op.namespace, op.key))
                elif isinstance(op, SearchOp):
                    query = queries.get(op.query) if op.query else None
                    results.append(search(op, query, self._items, self._index))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._items.list_namespaces(op))
                elif isinstance(op, PutOp):
                    results.append(None)
                else:
                    raise MemoryStoreError(f"unknown store operation {type(op).__name__}")
        return results

    # ------------------------------------------------------------ persistence

    def save(self, path: Path | str | None = None) -> Path:
        """Write a snapshot of items, ids and the index to ``path`` (default: `path`).

        The snapshot is written into a temporary directory, renamed into place and then
        published by atomically replacing ``path/CURRENT``; a crash leaves the previous
        snapshot readable. Returns the snapshot directory.
        """
        root = self._target(path)

        def fill(directory: Path) -> None:
            with self._lock.read():
                write_meta(directory, self._meta())
                if self._index is not None:
                    self._index.save(directory)
                self._dirty = False

        try:
            return write_snapshot(root, fill)
        except MemoryStoreError:
            self._dirty = True
            raise

    def _meta(self) -> dict[str, Any]:
        return {
            "version": _SNAPSHOT_VERSION,
            "fields": self._embedder.fields if self._embedder is not None else [],
            "index": self._index.state() if self._index is not None else None,
            **self._items.dump(),
        }

    @classmethod
    def load(
        cls,
        path: Path | str,
        embed: Embeddings | Callable[..., Any] | None = None,
        **options: Any,
    ) -> MemoryStore:
        """Open the snapshot at ``path``; ``embed`` serves later puts and queries.

        The index config (dims, fields) comes from the snapshot; nothing is re-embedded.
        ``options`` are the constructor's keyword parameters (e.g. ``ef_search``).
        """
        root = Path(path)
        snap, meta = read_snapshot(root, _SNAPSHOT_VERSION)
        index: IndexConfig | None = None
        if meta["index"] is not None:
            if embed is None:
                raise MemoryStoreError(f"the snapshot at {root} has a vector index: pass embed=")
            index = {"dims": int(meta["index"]["dims"]), "embed": embed, "fields": meta["fields"]}
        store = cls(index=index, path=root, **options)
        store._load_from(snap, meta)
        return store

    def _load_from(self, snap: Path, meta: dict[str, Any]) -> None:
        root = snap.parent
        state = meta["index"]
        if (state is None) != (self._index is None):
            raise MemoryStoreError(f"snapshot at {root} and this store differ in having an index")
        with self._lock.write():
            if state is not None:
                assert self._index is not None
                if int(state["dims"]) != self._index.dims:
                    raise MemoryStoreError(
                        f"snapshot at {root} has dims={state['dims']}, store has {self._index.dims}"
                    )
                self._index = HnswIndex.load(snap, state, **self._params)
            self._items = ItemTable.restore(meta)
            self._dirty = False

    def _target(self, path: Path | str | None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise MemoryStoreError("no path: pass save(path) or MemoryStore(path=...)")
        return target

    async def __aenter__(self) -> MemoryStore:
        """Load the snapshot at `path` if there is one and the store is still empty.

        (A store opened with `load`, or one already holding items, is not reloaded.)
        """
        path = self.path
        empty = not self._items.data
        if path is not None and empty and await asyncio.to_thread(has_snapshot, path):
            snap, meta = await asyncio.to_thread(read_snapshot, path, _SNAPSHOT_VERSION)
            await asyncio.to_thread(self._load_from, snap, meta)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Save to `path` when the store changed."""
        if self.path is not None and self._dirty:
            await asyncio.to_thread(self.save)


def _queries(ops: Sequence[Op]) -> list[str]:
    return list(dict.fromkeys(op.query for op in ops if isinstance(op, SearchOp) and op.query))


def _dedupe_puts(ops: Sequence[Op]) -> list[PutOp]:
    puts: dict[tuple[Namespace, str], PutOp] = {}
    for op in ops:
        if isinstance(op, PutOp):
            puts.pop((op.namespace, op.key), None)  # last write wins, in last-write order
            puts[(op.namespace, op.key)] = op
    return list(puts.values())
