"""`MemoryStore`: a LangGraph `BaseStore` whose semantic search runs on an HNSW index.

Semantics follow LangGraph's `InMemoryStore` (namespaces, ``filter`` with the
``$eq/$ne/$gt/$gte/$lt/$lte`` operators, limit/offset, ``index=False`` and per-put
fields, several vectors per item with the best score per item, search without a query,
``list_namespaces`` with prefix/suffix/max_depth), with these deliberate differences:

* filters are `stores.memory.filters`: dotted keys reach nested fields
  (``{"author.name": "Ada"}``), ordering compares numbers with numbers and strings with
  strings (other pairs never match instead of raising), an unknown operator is a
  `MemoryStoreError`;

* vector search is approximate (HNSW; cosine by default, scores are cosine similarities);
  namespace prefix and ``filter`` are applied *inside* the graph walk through
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
* TTLs work as LangGraph's `TTLConfig` describes (``ttl`` minutes on a put, refreshed by
  reads, ``default_ttl``, a sweeper: `stores.memory.ttl`); an expired item is never
  returned, even before the sweeper deletes it (InMemoryStore has no TTLs);
* ``index={"distance_type": "l2" | "inner_product"}`` ranks by those distances instead
  of cosine, with the scores LangGraph's Postgres store gives;
* ops handed to `batch` directly are checked as the public methods check them
  (`stores.memory.ops`), and list namespaces work as tuples.

Concurrency: a readers-writer lock guards the index and the items; searches share it,
writes hold it alone in slices of ``write_chunk`` items so searches interleave with a
large bulk load. The async methods do all locked work in a worker thread, so the event
loop never waits on the index. Items are `stores.memory.items`, reads
`stores.memory.search`, the index and its measured defaults `stores.memory.hnsw`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    IndexConfig,
    Op,
    PutOp,
    Result,
    TTLConfig,
    ensure_embeddings,
)

from stores.memory.embeddings import FieldEmbedder
from stores.memory.errors import MemoryStoreError
from stores.memory.hnsw import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_EXACT_THRESHOLD,
    DEFAULT_M,
    Distance,
    FloatArray,
    HnswIndex,
)
from stores.memory.items import ItemTable, Namespace, PreparedPut
from stores.memory.ops import bulk_puts, checked, dedupe_puts, prepare_puts, queries_of
from stores.memory.rwlock import RWLock
from stores.memory.search import run_reads
from stores.memory.snapshot import (
    check_index_matches,
    has_snapshot,
    index_config_of,
    read_snapshot,
    write_meta,
    write_snapshot,
)
from stores.memory.ttl import TtlSweeper, sweep_interval_s

logger = logging.getLogger(__name__)

_SNAPSHOT_VERSION = 1


class MemoryStore(BaseStore):
    """A LangGraph `BaseStore` with HNSW vector search, persistence and bulk loading.

    Args:
        index: ``{"dims": int, "embed": Embeddings | callable, "fields": [...]}`` as for
            LangGraph stores, and ``"distance_type"`` (cosine, l2 or inner_product, as
            LangGraph's Postgres store); None: a key-value store without vector search.
        path: directory for `save`/`load`; ``async with`` loads it when present and
            saves on exit when anything changed.
        m, ef_construction, ef_search, max_elements: HNSW parameters (see the module
            doc for how the defaults were measured); the index grows past
            ``max_elements`` by doubling.
        batch_size: texts embedded per call in bulk puts.
        write_chunk: items applied per exclusive-lock hold.
        exact_threshold: allowed-set size at or below which a search is an exact scan.
        num_threads: hnswlib threads for adding a batch (-1: all cores).
        ttl: LangGraph's `TTLConfig` (``default_ttl`` and ``sweep_interval_minutes`` in
            minutes, ``refresh_on_read``); a put's own ``ttl`` works without it.
        clock: wall-clock epoch seconds, for TTLs.
    """

    supports_ttl = True

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
        ttl: TTLConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.ttl_config = ttl
        self.clock = clock
        self._sweeper: TtlSweeper | None = None
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
            distance = cast(Distance, self.index_config.get("distance_type") or "cosine")
            self._embedder = FieldEmbedder(self.embeddings, int(index["dims"]),
                                           index.get("fields") or ["$"],
                                           unit=distance == "cosine")  # fmt: skip
            self._index = HnswIndex(
                int(index["dims"]), m=m, ef_construction=ef_construction,
                ef_search=ef_search, max_elements=max_elements, num_threads=num_threads,
                exact_threshold=exact_threshold, distance=distance,
            )  # fmt: skip
        self._lock = RWLock()
        self._items = ItemTable()
        self._items.clock = clock
        self._dirty = False

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
            out: dict[str, Any] = {"items": self._items.count(),
                                   "namespaces": len(self._items.data)}  # fmt: skip
            if self._index is not None:
                out |= {"vectors": self._index.live_count, "capacity": self._index.capacity,
                        "m": self._index.m, "ef_construction": self._index.ef_construction,
                        "ef_search": self._index.ef_search}  # fmt: skip
            return out

    # ---------------------------------------------------------------- batches

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops``: reads see the state before this batch's puts (as InMemoryStore).

        `InvalidNamespace` (LangGraph's `InvalidNamespaceError`) for a bad namespace.
        """
        ops = checked(ops)
        if self._items.expiries.due(self.clock()):
            self.sweep_ttl()
        queries = self._embedder.embed_queries(queries_of(ops)) if self._embedder else {}
        results = self._run_reads(ops, queries)
        puts = dedupe_puts(ops)
        for start in range(0, len(puts), self.batch_size):
            chunk = puts[start : start + self.batch_size]
            self._apply(self._prepare(chunk, self._embed_puts(chunk)))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async `batch`: embeddings awaited, index and item work done in a worker thread."""
        ops = checked(ops)
        if self._items.expiries.due(self.clock()):
            await asyncio.to_thread(self.sweep_ttl)
        queries = await self._embedder.aembed_queries(queries_of(ops)) if self._embedder else {}
        results = await asyncio.to_thread(self._run_reads, ops, queries)
        puts = dedupe_puts(ops)
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
            chunk = self._bulk(items[start : start + self.batch_size], index)
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
            chunk = self._bulk(items[start : start + self.batch_size], index)
            texts = await self._embedder.aembed_puts(chunk) if self._embedder else {}
            await asyncio.to_thread(self._apply, self._prepare(chunk, texts))
            if progress is not None:
                progress(len(chunk))

    def _bulk(
        self,
        items: Sequence[tuple[Namespace, str, Mapping[str, Any]]],
        index: Literal[False] | list[str] | None,
    ) -> list[PutOp]:
        return bulk_puts(items, index, (self.ttl_config or {}).get("default_ttl"))

    # ------------------------------------------------------------------ writes

    def _embed_puts(self, puts: Sequence[PutOp]) -> dict[str, FloatArray]:
        return self._embedder.embed_puts(puts) if self._embedder is not None else {}

    def _prepare(self, puts: Sequence[PutOp], vectors: dict[str, FloatArray]) -> list[PreparedPut]:
        return prepare_puts(puts, vectors, self._embedder)

    def _apply(self, prepared: Sequence[PreparedPut]) -> None:
        for start in range(0, len(prepared), self.write_chunk):
            with self._lock.write():
                self._items.apply(prepared[start : start + self.write_chunk], self._index)
        if prepared:
            self._dirty = True

    def _run_reads(self, ops: Sequence[Op], queries: Mapping[str, FloatArray]) -> list[Result]:
        with self._lock.read():
            return run_reads(ops, queries, self._items, self._index)

    # --------------------------------------------------------------------- TTL

    def sweep_ttl(self) -> int:
        """Delete every item whose TTL is up; how many were deleted."""
        with self._lock.write():
            gone = self._items.sweep(self.clock(), self._index)
        self._dirty = self._dirty or bool(gone)
        return gone

    async def asweep_ttl(self) -> int:
        """`sweep_ttl` in a worker thread."""
        return await asyncio.to_thread(self.sweep_ttl)

    async def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> asyncio.Task[None]:
        """Delete expired items every `sweep_interval_minutes` (default: the TTL config's
        ``sweep_interval_minutes``, else 5) until `stop_ttl_sweeper` or the store closes.
        Returns the sweeper's task (the running one if it was started already)."""
        if self._sweeper is not None and not self._sweeper.task.done():
            return self._sweeper.task
        interval_s = sweep_interval_s(self.ttl_config, sweep_interval_minutes)
        self._sweeper = TtlSweeper(self.asweep_ttl, interval_s)
        return self._sweeper.task

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Stop the sweeper; whether it stopped within `timeout` seconds (or never ran)."""
        sweeper, self._sweeper = self._sweeper, None
        return True if sweeper is None else await sweeper.stop(timeout)

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
        store = cls(index=index_config_of(root, meta, embed), path=root, **options)
        store._load_from(snap, meta)
        return store

    def _load_from(self, snap: Path, meta: dict[str, Any]) -> None:
        state = meta["index"]
        check_index_matches(snap.parent, state, self._index)
        with self._lock.write():
            if state is not None:
                self._index = HnswIndex.load(snap, state, **self._params)
            self._items = ItemTable.restore(meta)
            self._items.clock = self.clock
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
        await asyncio.to_thread(self.load_snapshot)
        return self

    def load_snapshot(self) -> bool:
        """Load the snapshot at `path` into this store if it is still empty (blocking);
        whether one was loaded. What `async with` does, for callers with a thread of their
        own."""
        path = self.path
        if path is None or self._items.data or not has_snapshot(path):
            return False
        snap, meta = read_snapshot(path, _SNAPSHOT_VERSION)
        self._load_from(snap, meta)
        return True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the TTL sweeper; save to `path` when the store changed."""
        await self.stop_ttl_sweeper()
        if self.path is not None and self._dirty:
            await asyncio.to_thread(self.save)
