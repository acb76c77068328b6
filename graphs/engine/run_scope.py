"""One run's bookkeeping, in one place: root span, monitor, provenance, runs log.

Every way of running a graph (`Engine.invoke`, threaded runs, `Engine.stream`, the raw
stream the LangGraph API serves) goes through here, so each run is one trace, is timed by
its engine's monitor (which is current while the run executes, so the warehouse, cache and
memory timings made inside land there too), reports where its data came from
(`stores.warehouse.provenance`) and shows in its engine's runs log, the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.trace import Span

import telemetry
from graphs.engine.registry import GraphSpec
from graphs.engine.run_record import RunRecord, RunStatus, failed_sources
from graphs.engine.runs_log import RunsLog
from stores.warehouse import provenance

T = TypeVar("T")


@dataclass(frozen=True)
class RunBook:
    """Where one engine records its runs: its `Monitor` and its `RunsLog`."""

    monitor: telemetry.Monitor
    log: RunsLog

    def record(
        self,
        graph: str,
        run_id: str,
        status: RunStatus,
        elapsed_ms: float,
        *,
        trace_id: str | None,
        thread_id: str | None = None,
        failed: Any = (),
        error: BaseException | str | None = None,
    ) -> RunRecord:
        """Add one finished run to the log; returns its record."""
        record = RunRecord(run_id=run_id, graph=graph, thread_id=thread_id, trace_id=trace_id)
        record.finish(status, duration_ms=elapsed_ms, failed=failed, error=error)
        self.log.add(record)
        return record


def result_of(spec: GraphSpec, final: dict[str, Any]) -> dict[str, Any]:
    """The caller-facing result of a run from its final state (interrupts included)."""
    final = dict(final)
    interrupts = [{"id": i.id, "value": i.value} for i in final.pop("__interrupt__", None) or ()]
    errors = list(final.get("errors") or [])
    status = "interrupted" if interrupts else "partial" if errors else "complete"
    result = {**spec.shape_output(final), "errors": errors, "status": status}
    if interrupts:
        result["interrupts"] = interrupts
    return result


def _status_of_failure(exc: BaseException) -> RunStatus:
    return "cancelled" if isinstance(exc, asyncio.CancelledError) else "failed"


@dataclass
class RunScope:
    """The open bookkeeping of one run; `finish` stamps its result."""

    graph: str
    run_id: str
    trace_id: str | None
    span: Span
    provenance: provenance.Provenance
    result: dict[str, Any] | None = None

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        """`result` with ``run_id``, ``trace_id`` and ``data_sources`` added."""
        done = {
            **result,
            "run_id": self.run_id,
            "trace_id": self.trace_id,
            "data_sources": self.provenance.snapshot(),
        }
        self.span.set_attribute("sophia.run.status", done["status"])
        self.span.set_attribute("sophia.run.errors", len(done.get("errors") or []))
        self.result = done
        return done


@contextlib.contextmanager
def run_scope(
    book: RunBook, graph: str, run_id: str, *, thread_id: str | None = None
) -> Iterator[RunScope]:
    """Open a run: its root span (current in the block), monitor, provenance and log entry.

    An exception leaving the block records the run as failed (cancelled for a
    cancellation) and is re-raised. Not for streams (a span must not stay current across
    a ``yield``): use `StreamScope` there.
    """
    started = time.perf_counter()
    scope: RunScope | None = None
    try:
        with telemetry.use_monitor(book.monitor), provenance.track() as prov:
            with telemetry.run_span(graph, run_id) as span:
                if thread_id is not None:
                    span.set_attribute("sophia.thread.id", thread_id)
                scope = RunScope(graph, run_id, telemetry.current_trace_id(), span, prov)
                with telemetry.monitor(f"run.{graph}", kind="run"):
                    yield scope
    except BaseException as exc:
        elapsed = (time.perf_counter() - started) * 1000
        book.record(graph, run_id, _status_of_failure(exc), elapsed, thread_id=thread_id,
                    trace_id=scope.trace_id if scope else None, error=exc)  # fmt: skip
        raise
    elapsed = (time.perf_counter() - started) * 1000
    done = scope.result if scope is not None else None
    if done is None:
        book.record(graph, run_id, "failed", elapsed, trace_id=scope.trace_id if scope else None,
                    thread_id=thread_id, error="ended without a result")  # fmt: skip
        return
    book.record(graph, run_id, done["status"], elapsed, trace_id=done.get("trace_id"),
                thread_id=thread_id, failed=failed_sources(done.get("errors") or []))  # fmt: skip


class StreamScope:
    """The bookkeeping of a streamed run: never current across the consumer's ``yield``.

    `iterate` makes the run's span, monitor and provenance current only while the graph
    produces the next chunk; `finish` or `fail` closes the run and records it.
    """

    def __init__(
        self, book: RunBook, graph: str, run_id: str, *, thread_id: str | None = None
    ) -> None:
        self.book, self.graph, self.run_id, self.thread_id = book, graph, run_id, thread_id
        self.provenance = provenance.Provenance()
        self._run = telemetry.run_span(graph, run_id)
        self.trace_id = self._run.start()
        if thread_id is not None:
            self._run.span.set_attribute("sophia.thread.id", thread_id)
        self._started = time.perf_counter()

    async def iterate(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        """Yield from `source` with the run's span, monitor and provenance current per step."""
        async for item in telemetry.iterate_in_span(self._run.span, self._attached(source)):
            yield item

    async def _attached(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        try:
            while True:
                with telemetry.use_monitor(self.book.monitor), provenance.attached(self.provenance):
                    try:
                        item = await anext(source)
                    except StopAsyncIteration:
                        return
                yield item
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with telemetry.use_monitor(self.book.monitor), provenance.attached(self.provenance):
                    await aclose()

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        """Close the run with `result` (stamped as `RunScope.finish` does) and record it."""
        done = {**result, "run_id": self.run_id, "trace_id": self.trace_id,
                "data_sources": self.provenance.snapshot()}  # fmt: skip
        self._run.span.set_attribute("sophia.run.status", done["status"])
        self._run.finish()
        self._record(done["status"], failed=failed_sources(done.get("errors") or []))
        return done

    def fail(self, exc: BaseException) -> None:
        """Close the run as failed (cancelled, for a cancellation) with `exc`; record it."""
        self._run.finish(exc)
        self._record(_status_of_failure(exc), error=exc)

    def _record(self, status: RunStatus, *, failed: Any = (),
                error: BaseException | None = None) -> None:  # fmt: skip
        elapsed = (time.perf_counter() - self._started) * 1000
        self.book.monitor.record(f"run.{self.graph}", elapsed, kind="run",
                                 error=status in ("failed", "timeout"))  # fmt: skip
        self.book.record(self.graph, self.run_id, status, elapsed, trace_id=self.trace_id,
                         thread_id=self.thread_id, failed=failed, error=error)  # fmt: skip
