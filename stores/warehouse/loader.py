"""Batch loading: bound ``IN`` statements in chunks, and a DataLoader that coalesces.

`Loader.load(key)` calls made in the same event-loop tick (from any number of tasks)
become one batch: its keys are de-duplicated, looked up in the row cache first (if the
warehouse has one), and the misses are fetched with one bound statement per
`MAX_IN_VALUES` keys. Results are per key lists of rows (one-to-many). An error fails the
futures of its own batch only. The loader keeps no results of its own: the cache, with
its TTLs, is the only memory.

When the cache also coordinates loads across processes (`LoadCoordinator`: `TieredCache`
with Redis and a lock TTL), the misses' load locks are claimed first (one round trip):
this process fetches only the keys it won, while it waits for the keys another process
is loading to land in Redis (at most the lock TTL); whatever did not land it fetches
itself. The locks are released in the round trip that writes the rows back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from opentelemetry import trace
from opentelemetry.trace import Span

from stores.warehouse import provenance
from stores.warehouse.row import Row
from telemetry.spans import shared_work

if TYPE_CHECKING:
    from stores.cache.load_locks import LoadClaim

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


@runtime_checkable
class LoadCoordinator(Protocol):
    """The cross-process load locks of `TieredCache` (see its ``claim_loads``)."""

    async def claim_loads(self, keys: Sequence[str], namespace: str) -> LoadClaim:
        """Which missed keys to load here, which another process is loading."""
        ...

    async def await_loads(self, claim: LoadClaim) -> dict[str, Any]:
        """The values of the claim's ``theirs`` that landed (at most the lock TTL)."""
        ...

    async def complete_loads(
        self, claim: LoadClaim, items: Mapping[str, Any], ttl: float | None = None
    ) -> None:
        """Store loaded values and release their locks."""
        ...

    async def release_loads(self, claim: LoadClaim) -> None:
        """Release the locks the claim still holds."""
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
        self._locks = cache if isinstance(cache, LoadCoordinator) else None
        self._window = batch_window_s
        self._pending: dict[Hashable, list[asyncio.Future[list[Row]]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self._runs: dict[int, provenance.Provenance] = {}  # pending future -> its run
        self._callers: dict[int, Span] = {}  # pending future -> its caller's span

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
        caller = trace.get_current_span()
        if caller.is_recording():  # tracing on: the batch's statement links to every caller
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
        # one span per node asking, however many keys it asked for
        waiting = {
            id(c): c for futures in batch.values() for f in futures
            if (c := self._callers.pop(id(f), None)) is not None
        }  # fmt: skip
        callers = [span.get_span_context() for span in waiting.values()]
        try:
            hits = await self._cached([k for k in batch if k is not None])
            # Cache hits are answered at once, not after the misses' round trip.
            self._answer(batch, hits, cached=True)
            misses = [k for k in batch if k is not None and k not in hits]
            fetched = {}
            if misses:
                # one statement for every node that asked: under the run, linked to each
                with shared_work(callers):
                    fetched = await self._load_misses(misses, batch)
        except Exception as exc:
            for futures in batch.values():
                for fut in futures:
                    self._record_provenance(fut, cached=False)
                    if not fut.done():
                        fut.set_exception(exc)
            return
        except BaseException:
            for futures in batch.values():
                for fut in futures:
                    self._runs.pop(id(fut), None)
                    fut.cancel()
            raise
        self._answer(batch, fetched, cached=False, every=True)

    def _answer(
        self,
        batch: dict[Hashable, list[asyncio.Future[list[Row]]]],
        results: Mapping[Hashable, list[Row]],
        *,
        cached: bool,
        every: bool = False,
    ) -> None:
        """Resolve the futures of keys in `results` (all still pending ones when `every`),
        telling each caller's run where its rows came from."""
        for key, futures in batch.items():
            if key not in results and not every:
                continue
            for fut in futures:
                self._record_provenance(fut, cached)
                if not fut.done():
                    fut.set_result(results.get(key, []))

    def _record_provenance(self, fut: asyncio.Future[list[Row]], cached: bool) -> None:
        """Tell the caller's run (once) whether its key came from the cache or the warehouse."""
        run = self._runs.pop(id(fut), None)
        if run is not None:
            run.record(f"{self.table}.{self.column}", int(cached), int(not cached))

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

    async def _load_misses(
        self, misses: list[Hashable], batch: dict[Hashable, list[asyncio.Future[list[Row]]]]
    ) -> dict[Hashable, list[Row]]:
        """The rows of `misses`: fetched here, or (with a `LoadCoordinator`) loaded by
        another process meanwhile (those callers are answered at once, as cache hits)."""
        if self._locks is None:
            return await self._fetch_and_store(misses)
        by_cache_key = {self.cache_key(k): k for k in misses}
        try:
            claim = await self._locks.claim_loads(list(by_cache_key), CACHE_NAMESPACE)
        except Exception:  # a cache failure never fails a load
            log.warning("claiming load locks failed; loading from the warehouse", exc_info=True)
            return await self._fetch_and_store(misses)
        try:
            results = {by_cache_key[c]: list(v) for c, v in claim.found.items()}
            self._answer(batch, results, cached=True)
            mine = [by_cache_key[c] for c in claim.mine]
            theirs = [by_cache_key[c] for c in claim.theirs]
            landed: dict[Hashable, list[Row]] = {}
            if theirs:  # fetch ours while waiting for theirs; answer each as it comes
                results |= await self._fetch_while_waiting(claim, mine, theirs, batch, landed)
            elif mine:
                results |= await self._fetch_and_store(mine, claim)
            if claim.found or theirs:
                here = len(results) - len(claim.found) - len(landed)
                self._note_elsewhere(claim, here, len(theirs), len(landed))
            return results
        finally:
            await self._locks.release_loads(claim)

    async def _fetch_while_waiting(
        self,
        claim: LoadClaim,
        mine: list[Hashable],
        theirs: list[Hashable],
        batch: dict[Hashable, list[asyncio.Future[list[Row]]]],
        landed: dict[Hashable, list[Row]],
    ) -> dict[Hashable, list[Row]]:
        """Fetch `mine` while waiting for `theirs` (their rows that landed fill `landed`);
        then fetch the rest of `theirs`. Every key's callers are answered as it comes."""
        assert self._locks is not None
        waiting = asyncio.ensure_future(self._locks.await_loads(claim))
        own = asyncio.ensure_future(self._fetch_and_store(mine, claim)) if mine else None
        results: dict[Hashable, list[Row]] = {}
        try:
            if own is not None:
                results |= await own
                self._answer(batch, {k: results.get(k, []) for k in mine}, cached=False)
            got = await waiting
        finally:
            for task in (waiting, own):
                if task is not None and not task.done():
                    task.cancel()
        landed.update((k, list(got[self.cache_key(k)])) for k in theirs
                      if self.cache_key(k) in got)  # fmt: skip
        self._answer(batch, landed, cached=True)
        rest = [k for k in theirs if k not in landed]
        if rest:  # the holder died, failed or was too slow: load them here after all
            results |= await self._fetch_and_store(rest, claim)
        return results | landed

    def _note_elsewhere(self, claim: LoadClaim, here: int, theirs: int, landed: int) -> None:
        """An event on the batch's span when another process loaded (or held) some keys:
        `here` keys fetched here, `theirs` waited for, of which `landed` arrived."""
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "loader.load_locks",
                {
                    "sophia.loader.source": f"{self.table}.{self.column}",
                    "sophia.loader.loaded_here": here,
                    "sophia.loader.found_at_claim": len(claim.found),
                    "sophia.loader.waited_for": theirs,
                    "sophia.loader.landed": landed,
                    "sophia.loader.wait_ms": claim.waited_s * 1000,
                },
            )

    async def _fetch_and_store(
        self, misses: list[Hashable], claim: LoadClaim | None = None
    ) -> dict[Hashable, list[Row]]:
        """Load `misses` from the warehouse and write them back to the row cache (releasing
        their load locks with a claim)."""
        fetched = await self._fetch(misses)
        if self._cache is not None:
            items = {self.cache_key(k): fetched.get(k, []) for k in misses}
            try:
                if claim is not None and self._locks is not None:
                    await self._locks.complete_loads(claim, items, None)
                else:
                    await self._cache.set_many(items, CACHE_NAMESPACE)
            except Exception:
                log.warning("row cache write failed", exc_info=True)
        return fetched

