"""Running statements on the pool: one trace record, one timeout and one guarded attempt each.

`Statements` is what `Warehouse.query`, `query_many`, `stream` and the batch loaders end
in. Each statement is traced with ``db.*`` attributes (the SQL with its ``?``
placeholders, never values) and measured by the ``database_query`` monitor. A node's own
statement is a ``db.query`` event of the node's span, counted in its totals
(`telemetry.tally`): a span each cost more than the statement's share of a review. A
statement several nodes share, one made outside a node (opening the engine, a caller's
own span), a stream, and with ``statement_spans`` every statement, is a CLIENT span of
its own (linked to each node it serves). With the pool's guard,
acquire + execute is one attempt: a retry runs on another connection. The statement
itself is bounded by ``query_timeout_s``; one that overruns it raises `QueryTimeoutError`
and its connection is discarded (its thread may still be running the statement).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Coroutine, Iterator, Sequence
from typing import Any

from opentelemetry import trace

from stores.errors import SophiaError
from stores.warehouse.backends import Backend
from stores.warehouse.errors import QueryTimeoutError
from stores.warehouse.lease import Lease
from stores.warehouse.pool import ConnectionPool
from stores.warehouse.row import Row
from stores.warehouse.translate import call_translated
from telemetry.monitoring import monitor
from telemetry.spans import client_span, shared_links
from telemetry.tally import STATEMENT_EVENT, SpanTally, current_tally

_tracer = trace.get_tracer("sophia.warehouse")


class Statements:
    """Statements on one pool (see the module docstring), with running totals."""

    def __init__(
        self,
        backend: Backend,
        pool: ConnectionPool[Any],
        query_timeout_s: float,
        *,
        statement_spans: bool = False,
    ) -> None:
        self._backend = backend
        self.statement_spans = statement_spans
        """Every statement a span of its own, also a node's own (else an event of it)."""
        self._pool = pool
        self.query_timeout_s = query_timeout_s
        self._monitor = monitor(f"warehouse.{backend.name}.query", kind="database_query")
        self.statements = 0
        """Statements run (each attempt of a retried one counts)."""
        self.rows = 0
        """Rows returned."""
        self.errors = 0
        """Statements that failed, once each however many attempts they had."""

    async def execute(
        self, sql: str, params: Sequence[Any], collection: str | None = None
    ) -> list[Row]:
        """Run one statement; all its rows. ``collection`` names the table for the span."""
        links = shared_links()  # the nodes a batched statement serves
        tally = None if links or self.statement_spans else current_tally()
        if tally is not None:  # a node's own statement: an event of the node's span
            event = {"db.query.text": sql}
            if collection:
                event["db.collection.name"] = collection
            return await self._execute_as_event(sql, params, event, tally)
        attributes = self._attributes(sql)
        if collection:
            attributes["db.collection.name"] = collection
        waited = [0.0]
        with (
            client_span(_tracer, _span_name(sql, collection), attributes, links=links) as span,
            self._monitor,
        ):
            try:
                rows = await self._fetch(sql, params, waited)
            except Exception:
                span.set_attribute("sophia.pool.wait_ms", waited[0])
                raise
            span.set_attributes(
                {"sophia.pool.wait_ms": waited[0], "db.response.returned_rows": len(rows)}
            )
            return rows

    async def _execute_as_event(
        self, sql: str, params: Sequence[Any], attributes: dict[str, Any], tally: SpanTally
    ) -> list[Row]:
        """`execute`, recorded as a ``db.query`` event of the tally's span (at the
        statement's start) and counted in its totals. The event carries what the node's
        span does not already say: the SQL, table, rows, duration and pool wait (the
        operation is the SQL's first word; the system, the engine's one warehouse)."""
        waited = [0.0]
        at, started = time.time_ns(), time.perf_counter()
        rows: list[Row] = []
        try:
            with self._monitor:
                rows = await self._fetch(sql, params, waited)
        except BaseException as exc:
            attributes["error.type"] = type(exc).__qualname__
            raise
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            tally.add_statement(len(rows), duration_ms)
            attributes["db.response.returned_rows"] = len(rows)
            attributes["sophia.duration_ms"] = round(duration_ms, 3)
            attributes["sophia.pool.wait_ms"] = waited[0]
            tally.span.add_event(STATEMENT_EVENT, attributes, timestamp=at)
        return rows

    async def _fetch(self, sql: str, params: Sequence[Any], waited: list[float]) -> list[Row]:
        """The statement's rows, from a pooled connection; ``waited[0]``: the pool wait (ms)."""

        async def attempt(lease: Lease[Any]) -> list[Row]:
            waited[0] = lease.waited_s * 1000
            rows: list[Row] = await self._run(lease, self._backend.execute, sql, params)
            return rows

        try:
            rows = await self._pool.using(attempt)
        except Exception:
            self.errors += 1  # once per failed statement, however many attempts
            raise
        self.rows += len(rows)
        return rows

    async def execute_all(self, statements: list[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Run statements concurrently; raise the first error only once all have finished."""
        return await _gather_all([self.execute(sql, p) for sql, p in statements])

    async def stream(
        self, sql: str, params: Sequence[Any], batch_size: int
    ) -> AsyncGenerator[list[Row], None]:
        """Yield the result in batches of at most ``batch_size`` rows (see `Warehouse.stream`)."""
        # not made current: an async generator runs in its consumer's context
        span = _tracer.start_span(
            _span_name(sql, None), kind=trace.SpanKind.CLIENT, attributes=self._attributes(sql)
        )
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
            self.errors += 1
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.set_attribute("db.response.returned_rows", returned)
            self.rows += returned
            span.end()

    def _attributes(self, sql: str) -> dict[str, Any]:
        """A statement span's attributes known before it runs (the SQL has placeholders)."""
        return {
            "db.system.name": self._backend.name,
            "db.query.text": sql,
            "db.operation.name": _operation(sql),
        }

    async def _run(self, lease: Lease[Any], fn: Any, *args: Any, statement: bool = True) -> Any:
        if statement:
            self.statements += 1
        try:
            async with asyncio.timeout(self.query_timeout_s):
                return await lease.run(call_translated, self._backend, fn, *args)
        except SophiaError:
            raise
        except TimeoutError as exc:
            lease.discard()
            raise QueryTimeoutError(
                f"{self._backend.name} statement did not finish within {self.query_timeout_s:g}s"
            ) from exc

    async def _close_stream(self, lease: Lease[Any], gen: Iterator[list[Row]]) -> None:
        if lease.broken:
            return  # the connection is discarded on release, which ends its result too
        try:
            await lease.run(_close_gen, gen)
        except BaseException:
            lease.discard()
            raise


async def _gather_all(calls: list[Coroutine[Any, Any, list[Row]]]) -> list[list[Row]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if not isinstance(r, BaseException)]


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
