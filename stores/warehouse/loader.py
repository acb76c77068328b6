"""Batch loading: bound ``IN`` statements in chunks, and a DataLoader that coalesces.

`Loader.load(key)` calls made in the same event-loop tick (from any number of tasks)
become one batch: its keys are de-duplicated, looked up in the row cache first (if the
warehouse has one), and the misses are fetched with one bound statement per
`MAX_IN_VALUES` keys. Results are per key lists of rows (one-to-many). An error fails the
futures of its own batch only. The loader keeps no results of its own: the cache, with
its TTLs, is the only memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import SpanContext

import telemetry
from stores.warehouse import provenance
from stores.warehouse.row import Row

MAX_IN_VALUES = 1000
"""At most this many bound values in one ``IN (...)`` list."""

CACHE_NAMESPACE = "queries"

Fetch = Callable[[list[Hashable]], Awaitable[dict[Hashable, list[Row]]]]

log = logging.getLogger(__name__)


class RowCache(Protocol):
    """The part of `TieredCache` the loader uses (see docs/architecture.md)."""

    async def get_many(self, keys: Sequence[str], namespace: str) -> dict[str, Any]:
        """The hits among ``keys`` (misses are absent)."""
        ...

    async def set_many(
        self, items: Mapping[str, Any], namespace: str, ttl: float | None = None
    ) -> None:
        """Store every item."""
        ...


def distinct_keys(keys: Iterable[Hashable]) -> list[Hashable]:
    """Keys in first-seen order without duplicates; ``None`` dropped (``IN`` never matches it)."""
    return [k for k in dict.fromkeys(keys) if k is not None]


def chunked(keys: Sequence[Hashable], size: int = MAX_IN_VALUES) -> list[list[Hashable]]:
    """``keys`` cut into lists of at most ``size``."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


def in_statement(quoted_table: str, quoted_column: str, count: int) -> str:
    """``SELECT * FROM t WHERE c IN (?, ?, ...)`` with ``count`` placeholders.

    Both identifiers must already be checked against the catalogue and quoted.
    """
    placeholders = ", ".join("?" * count)
    # identifiers come from the catalogue allow-list; values are bound
    return f"SELECT * FROM {quoted_table} WHERE {quoted_column} IN ({placeholders})"  # noqa: S608


def group_rows(
    rows: Iterable[Row], column: str, keys: Sequence[Hashable]
) -> dict[Hashable, list[Row]]:
    """Rows grouped by their ``column`` value, one (possibly empty) list per key."""
    grouped: dict[Hashable, list[Row]] = {k: [] for k in keys}
    for row in rows:
        bucket = grouped.get(row[column])
        if bucket is not None:
            bucket.append(row)
    return grouped


class Loader:
    """A DataLoader for one ``(table, column)`` of one warehouse (see module docstring)."""

    def __init__(
        self,
        table: str,
        column: str,
        fetch: Fetch,
        cache: RowCache | None = None,
        batch_window_s: float = 0.0,
    ) -> None:
        self.table = table.lower()
        self.column = column.lower()
        self._fetch = fetch
        self._cache = cache
        self._window = batch_window_s
        self._pending: dict[Hashable, list[asyncio.Future[list[Row]]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self._runs: dict[int, provenance.Provenance] = {}  # pending future -> its run
        self._callers: dict[int, SpanContext] = {}  # pending future -> its caller's span

    def cache_key(self, key: Hashable) -> str:
        """The row-cache key of ``key``: ``"{table}.{column}={key!r}"``."""
        return f"{self.table}.{self.column}={key!r}"

    async def load(self, key: Hashable) -> list[Row]:
        """All rows whose column equals ``key`` (an empty list if none)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[Row]] = loop.create_future()
        self._pending.setdefault(key, []).append(fut)
        run = provenance.current()
        if run is not None:
            self._runs[id(fut)] = run
        caller = trace.get_current_span().get_span_context()
        if caller.is_valid:  # tracing on: the batch's statement links to every caller
            self._callers[id(fut)] = caller
        if not self._scheduled:
            self._scheduled = True
            if self._window > 0:
                loop.call_later(self._window, self._dispatch)
            else:
                loop.call_soon(self._dispatch)
        return await fut

    async def load_many(self, keys: Iterable[Hashable]) -> list[list[Row]]:
        """`load` for every key, in one batch; one list of rows per key, in key order."""
        return list(await asyncio.gather(*(self.load(k) for k in keys)))

    def _dispatch(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, {}
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: dict[Hashable, list[asyncio.Future[list[Row]]]]) -> None:
        self.batches += 1
        callers = [
            c for futures in batch.values() for f in futures
            if (c := self._callers.pop(id(f), None)) is not None
        ]  # fmt: skip
        try:
            hits = await self._cached([k for k in batch if k is not None])
            # Cache hits are answered at once, not after the misses' round trip.
            _settle(batch, hits)
            misses = [k for k in batch if k is not None and k not in hits]
            self._record_provenance(batch, hits)
            fetched = {}
            if misses:
                # one statement for every node that asked: under the run, linked to each
                with telemetry.shared_work(callers):
                    fetched = await self._fetch_and_store(misses)
        except Exception as exc:
            for futures in batch.values():
                for fut in futures:
                    self._runs.pop(id(fut), None)
                    if not fut.done():
                        fut.set_exception(exc)
            return
        except BaseException:
            for futures in batch.values():
                for fut in futures:
                    self._runs.pop(id(fut), None)
                    fut.cancel()
            raise
        _settle(batch, fetched, every=True)

    def _record_provenance(
        self, batch: dict[Hashable, list[asyncio.Future[list[Row]]]], hits: Mapping[Hashable, Any]
    ) -> None:
        """Tell each caller's run whether its key came from the cache or the warehouse."""
        source = f"{self.table}.{self.column}"
        for key, futures in batch.items():
            for fut in futures:
                run = self._runs.pop(id(fut), None)
                if run is not None:
                    run.record(source, int(key in hits), int(key not in hits))

    async def _cached(self, keys: list[Hashable]) -> dict[Hashable, list[Row]]:
        """The keys' rows that the row cache holds (none when there is no cache)."""
        if self._cache is None or not keys:
            return {}
        try:
            hits = await self._cache.get_many([self.cache_key(k) for k in keys], CACHE_NAMESPACE)
        except Exception:  # a cache failure never fails a load
            log.warning("row cache read failed; loading from the warehouse", exc_info=True)
            return {}
        return {k: list(hits[self.cache_key(k)]) for k in keys if self.cache_key(k) in hits}

    async def _fetch_and_store(self, misses: list[Hashable]) -> dict[Hashable, list[Row]]:
        """Load `misses` from the warehouse and write them back to the row cache."""
        fetched = await self._fetch(misses)
        if self._cache is not None:
            try:
                await self._cache.set_many(
                    {self.cache_key(k): fetched.get(k, []) for k in misses}, CACHE_NAMESPACE
                )
            except Exception:
                log.warning("row cache write failed", exc_info=True)
        return fetched


def _settle(
    batch: dict[Hashable, list[asyncio.Future[list[Row]]]],
    results: dict[Hashable, list[Row]],
    *,
    every: bool = False,
) -> None:
    """Resolve the futures of keys in `results` (all still pending ones when `every`)."""
    for key, futures in batch.items():
        if key not in results and not every:
            continue
        for fut in futures:
            if not fut.done():
                fut.set_result(results.get(key, []))
