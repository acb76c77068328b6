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
import contextlib
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Coroutine,
    Hashable,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from opentelemetry import trace

from stores.errors import (
    QueryError,
    QueryTimeoutError,
    SophiaError,
    UnknownIdentifierError,
    WarehouseError,
    WarehouseUnavailableError,
)
from stores.warehouse.backends import Backend, Row, make_backend
from stores.warehouse.catalog import CatalogCache
from stores.warehouse.loader import (
    MAX_IN_VALUES,
    Loader,
    RowCache,
    chunked,
    distinct_keys,
    group_rows,
    in_statement,
)
from stores.warehouse.pool import CallGuard, ConnectionPool, Lease
from telemetry.monitor import monitor

_tracer = trace.get_tracer("sophia.warehouse")


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
    ``in_chunk_size``: keys per ``IN`` statement (at most 1,000).

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
    ) -> None:
        if not 1 <= in_chunk_size <= MAX_IN_VALUES:
            raise ValueError(f"in_chunk_size must be in 1..{MAX_IN_VALUES}, got {in_chunk_size}")
        self.in_chunk_size = in_chunk_size
        self._backend: Backend = make_backend(url)
        self.url = url
        self.query_timeout_s = query_timeout_s
        self.cache = cache
        self._guard = guard
        self._batch_window_s = batch_window_s
        self._pool: ConnectionPool[Any] = ConnectionPool(
            _TranslatingConnector(self._backend),
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
        self._catalog = CatalogCache(self._load_catalog)
        self._loaders: dict[tuple[str, str], Loader] = {}
        self._monitor = monitor(f"warehouse.{self._backend.name}.query", kind="database_query")
        self._statements = 0
        self._rows = 0
        self._errors = 0

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

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement (``?`` placeholders bound to ``params``); all rows as dicts."""
        return await self._execute(sql, params)

    async def query_many(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Run several statements concurrently on pooled connections; results in order.

        If any fails, the first error is raised once all have finished (none is left
        running on a connection).
        """
        return await _gather_all([self._execute(sql, p) for sql, p in statements])

    async def _execute(
        self, sql: str, params: Sequence[Any], collection: str | None = None
    ) -> list[Row]:
        with (
            _tracer.start_as_current_span(
                _span_name(sql, collection), kind=trace.SpanKind.CLIENT
            ) as span,
            self._monitor,
        ):
            span.set_attribute("db.system.name", self.backend)
            span.set_attribute("db.query.text", sql)
            span.set_attribute("db.operation.name", _operation(sql))
            if collection:
                span.set_attribute("db.collection.name", collection)

            async def attempt(lease: Lease[Any]) -> list[Row]:
                span.set_attribute("sophia.pool.wait_ms", lease.waited_s * 1000)
                rows: list[Row] = await self._run(lease, self._backend.execute, sql, params)
                return rows

            try:
                rows = await self._pool.using(attempt)
            except Exception:
                self._errors += 1  # once per failed statement, however many attempts
                raise
            span.set_attribute("db.response.returned_rows", len(rows))
            self._rows += len(rows)
            return rows

    async def _run(self, lease: Lease[Any], fn: Any, *args: Any, statement: bool = True) -> Any:
        if statement:
            self._statements += 1
        try:
            async with asyncio.timeout(self.query_timeout_s):
                return await lease.run(_call_translated, self._backend, fn, *args)
        except SophiaError:
            raise
        except TimeoutError as exc:
            lease.discard()
            raise QueryTimeoutError(
                f"{self.backend} statement did not finish within {self.query_timeout_s:g}s"
            ) from exc

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
                self._execute(in_statement(qt, qc, len(c)), c, collection=table.lower())
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

    async def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
    ) -> AsyncGenerator[list[Row], None]:
        """Yield the result in batches of at most ``batch_size`` rows.

        One pooled connection is held while iterating and released when the iteration
        ends, breaks (use ``contextlib.aclosing`` to release at once) or is cancelled.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        # not made current: an async generator runs in its consumer's context
        span = _tracer.start_span(_span_name(sql, None), kind=trace.SpanKind.CLIENT)
        span.set_attribute("db.system.name", self.backend)
        span.set_attribute("db.query.text", sql)
        span.set_attribute("db.operation.name", _operation(sql))
        returned = 0

        async def start(lease: Lease[Any]) -> tuple[Iterator[list[Row]], list[Row] | None]:
            # The first fetch runs the statement: it is the guarded attempt (on failure the
            # pool releases the connection, discarding it if broken, before any retry).
            span.set_attribute("sophia.pool.wait_ms", lease.waited_s * 1000)
            gen: Iterator[list[Row]] = self._backend.stream(
                lease.connection, sql, params, batch_size
            )
            try:
                return gen, await self._run(lease, _next_batch, gen)
            except BaseException:
                with contextlib.suppress(Exception):  # keep the statement's own error
                    await self._close_stream(lease, gen)
                raise

        try:
            lease, (gen, batch) = await self._pool.checkout(start)
            try:
                finished = False
                try:
                    # Later fetches only read the open result on this connection: they
                    # cannot be retried elsewhere, so they are bounded by the query timeout.
                    while batch is not None:
                        returned += len(batch)
                        yield batch
                        batch = await self._run(lease, _next_batch, gen, statement=False)
                    finished = True
                finally:
                    if not finished:
                        await self._close_stream(lease, gen)
            finally:
                lease.release()
        except Exception as exc:
            self._errors += 1
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.set_attribute("db.response.returned_rows", returned)
            self._rows += returned
            span.end()

    async def _close_stream(self, lease: Lease[Any], gen: Iterator[list[Row]]) -> None:
        if lease.broken:
            return  # the connection is discarded on release, which ends its result too
        try:
            await lease.run(_close_gen, gen)
        except BaseException:
            lease.discard()
            raise

    # catalogue, health, stats ------------------------------------------------------------

    async def catalog(self, refresh: bool = False) -> dict[str, set[str]]:
        """Table -> columns (lower case) of the warehouse's current schema."""
        cat = await (self._catalog.refresh() if refresh else self._catalog.get())
        return cat.as_dict()

    async def _load_catalog(self) -> list[Row]:
        sql, params = self._backend.catalog_statement()
        return await self._execute(sql, params)

    async def health(self) -> dict[str, Any]:
        """``{"ok", "backend", "latency_ms", "error", "pool"}`` after running ``SELECT 1``."""
        started = time.monotonic()
        error: str | None = None
        try:
            await self._execute("SELECT 1", ())
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
            "statements": self._statements,
            "rows": self._rows,
            "errors": self._errors,
            "loader_batches": sum(ld.batches for ld in self._loaders.values()),
        }


class _TranslatingConnector:
    """The backend as the pool's connector, raising our error hierarchy from its threads."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name

    def connect(self) -> Any:
        try:
            return self.backend.connect()
        except SophiaError:
            raise
        except Exception as exc:
            raise WarehouseUnavailableError(
                f"cannot connect to the {self.name} warehouse: {type(exc).__name__}: {exc}"
            ) from exc

    def close(self, conn: Any) -> None:
        self.backend.close(conn)

    def ping(self, conn: Any) -> None:
        self.backend.ping(conn)

    def reset(self, conn: Any) -> None:
        self.backend.reset(conn)

    def is_disconnect(self, exc: BaseException) -> bool:
        return isinstance(exc, WarehouseUnavailableError) or self.backend.is_disconnect(exc)


def _translate(backend: Backend, exc: Exception) -> WarehouseError:
    if isinstance(exc, WarehouseError):
        return exc
    if backend.is_disconnect(exc):
        return WarehouseUnavailableError(
            f"the {backend.name} connection failed: {type(exc).__name__}: {exc}"
        )
    return QueryError(f"{backend.name} rejected the statement: {type(exc).__name__}: {exc}")


async def _gather_all(calls: list[Coroutine[Any, Any, list[Row]]]) -> list[list[Row]]:
    """Await every call concurrently; raise the first error only after all have finished."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if not isinstance(r, BaseException)]


def _call_translated(conn: Any, backend: Backend, fn: Any, *args: Any) -> Any:
    """Run ``fn(conn, *args)`` on a pool thread, raising our hierarchy (cause chained)."""
    try:
        return fn(conn, *args)
    except Exception as exc:
        translated = _translate(backend, exc)
        if translated is exc:
            raise
        raise translated from exc


def _next_batch(conn: Any, gen: Iterator[list[Row]]) -> list[Row] | None:
    return next(gen, None)


def _close_gen(conn: Any, gen: Iterator[list[Row]]) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        close()


def _operation(sql: str) -> str:
    head = sql.lstrip().split(None, 1)
    return head[0].upper() if head else ""


def _span_name(sql: str, collection: str | None) -> str:
    op = _operation(sql) or "query"
    return f"{op} {collection}" if collection else op


__all__ = ["Row", "UnknownIdentifierError", "Warehouse"]
