"""`Warehouse`: the pooled, batched, streaming warehouse store (DuckDB or Snowflake).

Promises (see docs/architecture.md, "Warehouse"):

- one pool per warehouse; every statement runs on a pooled connection with ``?``
  placeholders bound to its parameters, never formatted into the SQL;
- rows are dicts with lower-case keys on both backends;
- table and column names passed to `load_many`/`loader` are checked against the
  warehouse's own catalogue and quoted; unknown ones raise `UnknownIdentifierError`;
- `load_many` issues one ``IN`` statement per 1,000 distinct keys, chunks concurrently;
- errors are `QueryError`, `QueryTimeoutError`, `WarehouseUnavailableError`,
  `PoolTimeoutError` or `PoolClosedError` with the cause chained, and none leaks a
  connection; with a guard, also `CircuitOpenError` (as itself: "circuit breaker
  'warehouse' is open ...") and `DependencyTimeoutError`;
- with a guard, each statement's attempt is *acquire + execute*: a retry runs on another
  connection (a failed or timed-out one is discarded), the breaker counts every attempt,
  and while the breaker is open a statement fails at once, touching no connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Iterable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from stores.errors import SophiaError
from stores.resilience.call_guard import CallGuard
from stores.warehouse.backends import Backend, make_backend
from stores.warehouse.catalog import CatalogCache
from stores.warehouse.errors import UnknownIdentifierError, WarehouseUnavailableError
from stores.warehouse.loader import (
    MAX_IN_VALUES,
    Loader,
    RowCache,
    chunked,
    distinct_keys,
    group_rows,
    in_statement,
)
from stores.warehouse.pool import ConnectionPool
from stores.warehouse.row import Row
from stores.warehouse.statements import Statements
from stores.warehouse.translate import TranslatingConnector


class Warehouse:
    """A warehouse store on one connection pool. Use `Warehouse.open` (or ``async with``).

    ``url``: ``duckdb:///abs/path.duckdb[?read_only=true]`` or
    ``snowflake://user:pass@account/db/schema?warehouse=WH&role=R`` (see
    `stores.warehouse.backends.url.WarehouseURL`). Pool options: ``min_size`` connections are opened
    in parallel at open, at most ``max_size`` exist; ``acquire_timeout_s`` bounds waiting
    for (or opening) a connection; ``query_timeout_s`` bounds one statement (a timed-out
    connection is discarded); ``max_lifetime_s``/``max_idle_s`` recycle old or long-idle
    connections; one idle for ``health_check_after_s`` is pinged before reuse.
    ``cache``: a `RowCache` the loaders read through (namespace ``queries``). ``guard``: a
    `CallGuard` each statement goes through as acquire + execute (connects and pings made
    while acquiring belong to that attempt; a stream's first fetch is its attempt).
    ``batch_window_s``: how long a loader collects keys (0: one event-loop tick).
    ``in_chunk_size``: keys per ``IN`` statement (at most 1,000). ``statement_spans``: a
    span for every statement, also a node's own (default: an event of the node's span;
    see `stores.warehouse.statements`).

    Opening fails with `WarehouseUnavailableError` if the warm-up cannot connect, and reads
    the catalogue once (the identifier allow-list).
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        acquire_timeout_s: float = 10.0,
        query_timeout_s: float = 30.0,
        max_lifetime_s: float = 3600.0,
        max_idle_s: float = 300.0,
        health_check_after_s: float = 5.0,
        close_timeout_s: float = 10.0,
        cache: RowCache | None = None,
        guard: CallGuard | None = None,
        batch_window_s: float = 0.0,
        in_chunk_size: int = MAX_IN_VALUES,
        statement_spans: bool = False,
    ) -> None:
        if not 1 <= in_chunk_size <= MAX_IN_VALUES:
            raise ValueError(f"in_chunk_size must be in 1..{MAX_IN_VALUES}, got {in_chunk_size}")
        self.in_chunk_size = in_chunk_size
        self._backend: Backend = make_backend(url)
        self.url = url
        self.cache = cache
        self._guard = guard
        self._batch_window_s = batch_window_s
        self._pool: ConnectionPool[Any] = ConnectionPool(
            TranslatingConnector(self._backend),
            min_size=min_size,
            max_size=max_size,
            acquire_timeout_s=acquire_timeout_s,
            max_lifetime_s=max_lifetime_s,
            max_idle_s=max_idle_s,
            health_check_after_s=health_check_after_s,
            close_timeout_s=close_timeout_s,
            guard=guard,
            name=self._backend.name,
            system=self._backend.name,
        )
        self._statements = Statements(
            self._backend, self._pool, query_timeout_s, statement_spans=statement_spans
        )
        self._catalog = CatalogCache(self._load_catalog)
        self._loaders: dict[tuple[str, str], Loader] = {}

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, **pool_options: Any) -> AsyncIterator[Warehouse]:
        """Open a warehouse for the ``async with`` block and close it on exit."""
        async with cls(url, **pool_options) as wh:
            yield wh

    async def __aenter__(self) -> Warehouse:
        try:
            await asyncio.to_thread(self._backend.start)
        except SophiaError:
            raise
        except Exception as exc:
            raise WarehouseUnavailableError(f"cannot open {self.backend} warehouse: {exc}") from exc
        try:
            await self._pool.open()
            await self._catalog.get()
        except BaseException:
            await self._pool.close()
            await asyncio.to_thread(self._backend.stop)
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pool (waiting for connections in use, then forcing) and the backend."""
        await self._pool.close()
        await asyncio.to_thread(self._backend.stop)

    @property
    def backend(self) -> str:
        """``"duckdb"`` or ``"snowflake"``."""
        return self._backend.name

    # statements ------------------------------------------------------------------------

    @property
    def query_timeout_s(self) -> float:
        """How long one statement may run before `QueryTimeoutError`."""
        return self._statements.query_timeout_s

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement (``?`` placeholders bound to ``params``); all rows as dicts."""
        return await self._statements.execute(sql, params)

    async def query_many(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Run several statements concurrently on pooled connections; results in order.

        If any fails, the first error is raised once all have finished (none is left
        running on a connection).
        """
        return await self._statements.execute_all(list(statements))

    # batch loading -----------------------------------------------------------------------

    async def load_many(self, table: str, column: str, keys: Iterable[Hashable]) -> list[Row]:
        """Rows whose ``column`` is in ``keys``, grouped in first-seen key order.

        One bound ``IN`` statement per ``in_chunk_size`` (default and maximum 1,000)
        distinct keys, run concurrently. Duplicate
        keys do not duplicate rows; ``None`` keys match nothing.
        """
        ordered = distinct_keys(keys)
        grouped = await self._fetch_grouped(table, column, ordered)
        return [row for key in ordered for row in grouped.get(key, [])]

    async def _fetch_grouped(
        self, table: str, column: str, keys: list[Hashable]
    ) -> dict[Hashable, list[Row]]:
        qt, qc = await self._catalog.quoted(table, column)
        if not keys:
            return {}
        chunks = chunked(keys, self.in_chunk_size)
        results = await asyncio.gather(
            *(
                self._statements.execute(in_statement(qt, qc, len(c)), c, table.lower())
                for c in chunks
            )
        )
        return group_rows((r for rows in results for r in rows), column.lower(), keys)

    def loader(self, table: str, column: str) -> Loader:
        """The DataLoader for ``(table, column)``: the same object on every call for names
        the catalogue knows.

        Names the catalogue does not know yet (a table created after the warehouse opened)
        get a loader whose first load re-reads the catalogue once (rate-limited) and raises
        `UnknownIdentifierError` if they are still unknown; it is not kept.
        """
        key = (table.lower(), column.lower())
        existing = self._loaders.get(key)
        if existing is not None:
            return existing

        async def fetch(keys: list[Hashable]) -> dict[Hashable, list[Row]]:
            return await self._fetch_grouped(key[0], key[1], distinct_keys(keys))

        made = Loader(key[0], key[1], fetch, cache=self.cache, batch_window_s=self._batch_window_s)
        cached = self._catalog.cached
        try:
            if cached is not None:
                cached.quoted(table, column)
        except UnknownIdentifierError:
            return made
        self._loaders[key] = made
        return made

    # streaming ---------------------------------------------------------------------------

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
    ) -> AsyncGenerator[list[Row], None]:
        """Yield the result in batches of at most ``batch_size`` rows.

        One pooled connection is held while iterating and released when the iteration
        ends, breaks (use ``contextlib.aclosing`` to release at once) or is cancelled.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return self._statements.stream(sql, params, batch_size)

    # catalogue, health, stats ------------------------------------------------------------

    async def catalog(self, refresh: bool = False) -> dict[str, set[str]]:
        """Table -> columns (lower case) of the warehouse's current schema."""
        cat = await (self._catalog.refresh() if refresh else self._catalog.get())
        return cat.as_dict()

    async def _load_catalog(self) -> list[Row]:
        sql, params = self._backend.catalog_statement()
        return await self._statements.execute(sql, params)

    async def health(self) -> dict[str, Any]:
        """``{"ok", "backend", "latency_ms", "error", "pool"}`` after running ``SELECT 1``."""
        started = time.monotonic()
        error: str | None = None
        try:
            await self._statements.execute("SELECT 1", ())
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        return {
            "ok": error is None,
            "backend": self.backend,
            "latency_ms": round((time.monotonic() - started) * 1000, 3),
            "error": error,
            "pool": self._pool.stats(),
        }

    def stats(self) -> dict[str, Any]:
        """Pool figures (size, in_use, idle, waiting, waits, connects, ...) and counters."""
        return {
            "backend": self.backend,
            **self._pool.stats(),
            "statements": self._statements.statements,
            "rows": self._statements.rows,
            "errors": self._statements.errors,
            "loader_batches": sum(ld.batches for ld in self._loaders.values()),
        }


__all__ = ["Row", "UnknownIdentifierError", "Warehouse"]
