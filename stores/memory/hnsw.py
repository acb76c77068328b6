"""The HNSW vector index under `MemoryStore`: labels, vectors, filtered search, persistence.

`HnswIndex` wraps one `hnswlib.Index` and owns the label space:
every stored vector has an integer label, each label belongs to a *group* (the store
uses namespace ids) and labels of deleted vectors are reused. Beside the graph it keeps
a label-indexed float32 matrix of the normalised vectors, so that a search whose allowed
set is small can be answered exactly without walking the whole graph (hnswlib's filtered
search explores the entire graph when fewer than ``ef`` labels pass the filter). The
copy costs dims*4 bytes per vector (about as much as hnswlib's own storage).

Deleted slots are reused by re-adding a freed *label*: hnswlib then revives and updates
that element in place. hnswlib's own ``replace_deleted=True`` is not used because it
overwrites an arbitrary deleted element and does not say which label it evicted, which
would break the label -> item bookkeeping (and the label it dropped could still be
looked up later).

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

It is *not* thread-safe by itself: hnswlib must not add or resize while it searches.
Callers hold a `stores.memory.rwlock.RWLock` (searches shared, writes exclusive) around
every call, as `MemoryStore` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import hnswlib
import numpy as np
import numpy.typing as npt

from stores.memory.errors import MemoryStoreError

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 64
DEFAULT_EF_SEARCH = 64
DEFAULT_EXACT_THRESHOLD = 2048

Distance = Literal["cosine", "l2", "inner_product"]
DISTANCES: tuple[Distance, ...] = ("cosine", "l2", "inner_product")
"""The distances an index can rank by, named as LangGraph's Postgres store names them."""
_SPACE = {"cosine": "cosine", "l2": "l2", "inner_product": "ip"}


def normalize(vectors: npt.ArrayLike, dims: int, *, unit: bool = True) -> FloatArray:
    """Return ``vectors`` as a C-contiguous float32 ``(n, dims)`` array, of unit rows
    unless ``unit=False`` (the ``l2`` and ``inner_product`` distances use raw vectors).

    Zero rows stay zero (their cosine with anything is 0, as in InMemoryStore).
    Raises `MemoryStoreError` when the width is not ``dims``.
    """
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dims:
        raise MemoryStoreError(
            f"embedding has shape {arr.shape}, expected (n, {dims}): the embedder's output "
            f"does not match index dims={dims}"
        )
    if not unit:
        return np.ascontiguousarray(arr, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


class HnswIndex:
    """HNSW index over integer labels, each tagged with a group id.

    Args:
        dims: vector width.
        distance: ``cosine`` (the default; vectors are stored as unit rows), ``l2`` or
            ``inner_product``. Scores are larger for nearer vectors, as LangGraph's
            Postgres store reports them: cosine similarity, ``-`` the Euclidean
            distance, the inner product.
        m, ef_construction, ef_search: hnswlib parameters (graph degree, build-time and
            query-time candidate list sizes). ``ef_search`` is a floor: a search for
            ``k`` results uses ``max(ef_search, k)``.
        max_elements: initial capacity; the index doubles when it is full.
        num_threads: threads hnswlib uses to add a batch (-1: all cores).
        exact_threshold: when at most this many vectors are allowed by a search's
            group mask (or the whole index is this small), the search is an exact scan
            of those vectors instead of a graph walk.
    """

    def __init__(
        self,
        dims: int,
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        max_elements: int = 1024,
        num_threads: int = -1,
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
        distance: Distance = "cosine",
    ) -> None:
        if dims <= 0:
            raise MemoryStoreError(f"index dims must be positive, got {dims}")
        if distance not in DISTANCES:
            raise MemoryStoreError(
                f"unknown distance {distance!r}; use one of {', '.join(DISTANCES)}"
            )
        self.dims = dims
        self.distance: Distance = distance
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.num_threads = num_threads
        self.exact_threshold = exact_threshold
        capacity = max(16, int(max_elements))
        self._index = hnswlib.Index(space=_SPACE[distance], dim=dims)
        self._index.init_index(max_elements=capacity, M=m, ef_construction=ef_construction)
        self._index.set_ef(ef_search)
        self._vectors: FloatArray = np.zeros((capacity, dims), dtype=np.float32)
        self._groups = np.full(capacity, -1, dtype=np.int32)
        self._next_label = 0
        self._free: list[int] = []

    # ------------------------------------------------------------------ sizes

    @property
    def capacity(self) -> int:
        """How many labels fit before the next resize."""
        return int(self._index.get_max_elements())

    @property
    def live_count(self) -> int:
        """Number of live (not deleted) vectors."""
        return self._next_label - len(self._free)

    @property
    def groups(self) -> npt.NDArray[np.int32]:
        """Group id per label (``-1``: free), over all labels handed out so far."""
        return self._groups[: self._next_label]

    # ----------------------------------------------------------------- writes

    def allocate(self, count: int) -> list[int]:
        """Reserve ``count`` labels: freed ones first (their slots are reused), then new.

        Grows the index (doubling) when the new labels do not fit.
        """
        reused = [self._free.pop() for _ in range(min(count, len(self._free)))]
        fresh = count - len(reused)
        if fresh:
            self._ensure_capacity(self._next_label + fresh)
            reused.extend(range(self._next_label, self._next_label + fresh))
            self._next_label += fresh
        return reused

    def _ensure_capacity(self, needed: int) -> None:
        capacity = self.capacity
        if needed > capacity:
            capacity = max(needed, 2 * capacity)
            try:
                self._index.resize_index(capacity)
            except (RuntimeError, MemoryError) as exc:
                raise MemoryStoreError(f"could not grow the HNSW index to {capacity}") from exc
        # A loaded index maps only the saved vectors (see `load`): they grow on first write.
        held = len(self._vectors)
        if needed > held:
            vectors = np.zeros((capacity, self.dims), dtype=np.float32)
            vectors[:held] = self._vectors
            self._vectors = vectors
        if needed > len(self._groups):
            groups = np.full(capacity, -1, dtype=np.int32)
            groups[: len(self._groups)] = self._groups
            self._groups = groups

    def write(self, labels: list[int], vectors: FloatArray, groups: list[int]) -> None:
        """Store unit ``vectors`` under ``labels`` (from `allocate`) in ``groups``.

        One hnswlib ``add_items`` call for the whole batch. A label that is live or was
        freed is updated in place (hnswlib re-links the existing slot), a new one is added.
        """
        if not labels:
            return
        ids = np.asarray(labels, dtype=np.int64)
        try:
            self._index.add_items(vectors, ids, num_threads=self.num_threads)
        except RuntimeError as exc:
            raise MemoryStoreError(f"hnswlib rejected a batch of {len(labels)} vectors") from exc
        self._vectors[ids] = vectors
        self._groups[ids] = np.asarray(groups, dtype=np.int32)

    def release(self, labels: list[int]) -> None:
        """Delete the vectors under ``labels``: marked deleted in hnswlib, slots reusable."""
        for label in labels:
            try:
                self._index.mark_deleted(label)
            except RuntimeError as exc:
                raise MemoryStoreError(f"label {label} is not in the HNSW index") from exc
            self._groups[label] = -1
            self._vectors[label] = 0.0
            self._free.append(label)

    # ----------------------------------------------------------------- search

    def search(
        self,
        query: FloatArray,
        k: int,
        allowed: BoolArray | None = None,
        predicate: Callable[[int], bool] | None = None,
    ) -> tuple[list[int], list[float], str]:
        """The ``k`` labels nearest to ``query`` (a unit vector for cosine) among the
        allowed ones.

        ``allowed`` is a mask over `groups` (None: every live label); ``predicate``, if
        given, is a further per-label test evaluated lazily while the graph is walked
        (hnswlib's ``filter``). Returns labels, scores (best first: see the class doc)
        and the strategy used: ``"hnsw"`` or ``"exact"``.
        """
        if predicate is not None:
            predicate = _memoized(predicate)  # shared by the walk and an exact fallback
        live = self._groups[: self._next_label] >= 0
        mask = live if allowed is None else (allowed & live)
        n_allowed = int(np.count_nonzero(mask))
        if n_allowed == 0 or k <= 0:
            return [], [], "exact"
        k = min(k, n_allowed)
        if n_allowed <= self.exact_threshold:
            return (*self._exact(query, np.flatnonzero(mask), k, predicate), "exact")
        flags: list[bool] = mask.tolist()
        check: Callable[[int], bool] | None
        if predicate is None:
            check = None if allowed is None else flags.__getitem__
        else:
            check = _and_filter(flags, predicate)
        try:
            found, distances = self._index.knn_query(query, k=k, num_threads=1, filter=check)
        except RuntimeError as exc:
            if "contiguous" not in str(exc):
                raise MemoryStoreError("HNSW search failed") from exc
            # Fewer than k labels passed the filter: the walk has visited the whole graph
            # already, so an exact scan of the allowed labels costs no more.
            return (*self._exact(query, np.flatnonzero(mask), k, predicate), "exact")
        if self.distance == "l2":  # hnswlib's l2 is the squared distance
            scores = -np.sqrt(np.maximum(distances[0], 0.0))
        else:  # cosine: 1 - cos; ip: 1 - <a, b>
            scores = 1.0 - distances[0]
        return [int(x) for x in found[0]], [float(s) for s in scores], "hnsw"

    def _exact(
        self,
        query: FloatArray,
        candidates: npt.NDArray[np.intp],
        k: int,
        predicate: Callable[[int], bool] | None,
    ) -> tuple[list[int], list[float]]:
        if predicate is not None:
            candidates = np.asarray([c for c in candidates.tolist() if predicate(c)], np.intp)
        if candidates.size == 0:
            return [], []
        if self.distance == "l2":
            scores = -np.linalg.norm(self._vectors[candidates] - query.reshape(1, -1), axis=1)
        else:
            scores = self._vectors[candidates] @ query.reshape(-1)
        k = min(k, candidates.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < candidates.size else np.arange(k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return candidates[top].tolist(), scores[top].astype(float).tolist()

    # ------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        """The small part of the state that is not in the files (for the store's meta)."""
        return {
            "dims": self.dims,
            "distance": self.distance,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "capacity": self.capacity,
            "next_label": self._next_label,
            "free": list(self._free),
        }

    def save(self, directory: Path) -> None:
        """Write the graph (``index.bin``) and the vectors and groups (``.npy``)."""
        self._index.save_index(str(directory / "index.bin"))
        np.save(directory / "vectors.npy", self._vectors[: self._next_label], allow_pickle=False)
        np.save(directory / "groups.npy", self._groups[: self._next_label], allow_pickle=False)

    @classmethod
    def load(
        cls,
        directory: Path,
        state: dict[str, Any],
        *,
        ef_search: int | None = None,
        num_threads: int = -1,
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
    ) -> HnswIndex:
        """Rebuild an index written by `save` with the meta ``state`` (no re-embedding)."""
        dims = int(state["dims"])
        self = cls.__new__(cls)
        self.dims = dims
        self.distance = state.get("distance", "cosine")
        self.m = int(state["m"])
        self.ef_construction = int(state["ef_construction"])
        self.ef_search = int(ef_search if ef_search is not None else state["ef_search"])
        self.num_threads = num_threads
        self.exact_threshold = exact_threshold
        capacity = int(state["capacity"])
        self._next_label = int(state["next_label"])
        self._free = [int(x) for x in state["free"]]
        self._index = hnswlib.Index(space=_SPACE[self.distance], dim=dims)
        self._index.load_index(str(directory / "index.bin"), max_elements=capacity)
        self._index.set_ef(self.ef_search)
        # Copy-on-write mapping: pages are read when a search touches them and copied only
        # if written, so opening a 120k-vector index does not read and copy ~180 MB.
        vectors = np.load(directory / "vectors.npy", mmap_mode="c", allow_pickle=False)
        groups = np.load(directory / "groups.npy", allow_pickle=False)
        if vectors.shape != (self._next_label, dims) or groups.shape != (self._next_label,):
            raise MemoryStoreError(f"snapshot in {directory} is inconsistent (vector count)")
        self._vectors = vectors
        self._groups = np.full(capacity, -1, dtype=np.int32)
        self._groups[: self._next_label] = groups
        return self


def _memoized(predicate: Callable[[int], bool]) -> Callable[[int], bool]:
    memo: dict[int, bool] = {}

    def check(label: int) -> bool:
        verdict = memo.get(label)
        if verdict is None:
            verdict = memo[label] = predicate(label)
        return verdict

    return check


def _and_filter(flags: list[bool], predicate: Callable[[int], bool]) -> Callable[[int], bool]:
    def check(label: int) -> bool:
        return flags[label] and predicate(label)

    return check
