"""One run's bookkeeping, in one place: root span, run timing, provenance, runs log.

Every way of running a graph (`Engine.invoke`, threaded runs, `Engine.stream`, the raw
stream the SDK API serves) goes through here, so each run is one trace, is timed by the
monitor, reports where its data came from (`stores.warehouse.provenance`) and shows in the
dashboard's recent runs (`graphs.engine.runs_log`), the same way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.trace import Span

import telemetry
from graphs.engine import runs_log
from graphs.engine.registry import GraphSpec
from stores.warehouse import provenance

T = TypeVar("T")


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


@dataclass
class RunScope:
    """The open bookkeeping of one run; `finish` stamps and records its result."""

    graph: str
    run_id: str
    trace_id: str | None
    span: Span
    provenance: provenance.Provenance
    tracker: runs_log.RunTracker

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        """`result` with ``run_id``, ``trace_id`` and ``data_sources`` added; recorded."""
        done = {
            **result,
            "run_id": self.run_id,
            "trace_id": self.trace_id,
            "data_sources": self.provenance.snapshot(),
        }
        self.span.set_attribute("sophia.run.status", done["status"])
        self.span.set_attribute("sophia.run.errors", len(done.get("errors") or []))
        self.tracker.finish(done)
        return done


@contextlib.contextmanager
def run_scope(graph: str, run_id: str, *, thread_id: str | None = None) -> Iterator[RunScope]:
    """Open a run: its root span (current in the block), timing, provenance and log entry.

    Not for streams (a span must not stay current across a ``yield``): use
    `stream_scope` there.
    """
    with runs_log.track_run(graph, run_id) as tracker, provenance.track() as prov:
        with telemetry.run_span(graph, run_id) as span:
            if thread_id is not None:
                span.set_attribute("sophia.thread.id", thread_id)
            tracker.trace_id = telemetry.current_trace_id()
            with telemetry.monitor(f"run.{graph}", kind="run"):
                yield RunScope(graph, run_id, tracker.trace_id, span, prov, tracker)


class StreamScope:
    """The bookkeeping of a streamed run: never current across the consumer's ``yield``.

    `iterate` makes the run's span and provenance current only while the graph produces
    the next chunk; `finish` or `fail` closes the run and records it.
    """

    def __init__(self, graph: str, run_id: str, *, thread_id: str | None = None) -> None:
        self.graph, self.run_id = graph, run_id
        self.provenance = provenance.Provenance()
        self._run = telemetry.run_span(graph, run_id)
        self.trace_id = self._run.start()
        if thread_id is not None:
            self._run.span.set_attribute("sophia.thread.id", thread_id)
        self._started = time.perf_counter()

    async def iterate(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        """Yield from `source` with the run's span and provenance current per step."""
        async for item in telemetry.iterate_in_span(self._run.span, self._with_provenance(source)):
            yield item

    async def _with_provenance(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        try:
            while True:
                with provenance.attached(self.provenance):
                    try:
                        item = await anext(source)
                    except StopAsyncIteration:
                        return
                yield item
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with provenance.attached(self.provenance):
                    await aclose()

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        """Close the run with `result` (stamped as `RunScope.finish` does) and record it."""
        done = {**result, "run_id": self.run_id, "trace_id": self.trace_id,
                "data_sources": self.provenance.snapshot()}  # fmt: skip
        self._run.span.set_attribute("sophia.run.status", done["status"])
        self._run.finish()
        self._record(done["status"], failed=runs_log.failed_sources(done.get("errors") or []))
        return done

    def fail(self, exc: BaseException) -> None:
        """Close the run as failed with `exc` (recorded on the span and in the log)."""
        self._run.finish(exc)
        self._record("failed", error=exc)

    def _record(self, status: str, *, failed: Any = (), error: BaseException | None = None
                ) -> None:  # fmt: skip
        elapsed = (time.perf_counter() - self._started) * 1000
        telemetry.default_monitor().record(f"run.{self.graph}", elapsed, kind="run",
                                           error=status == "failed")  # fmt: skip
        runs_log.record_run(self.graph, self.run_id, self.trace_id, status, elapsed,
                            failed_sources=failed, error=error)  # fmt: skip
