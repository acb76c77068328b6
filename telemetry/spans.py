"""Spans for a run and for each node execution, with context handling that cannot leak.

``run_span`` starts the root span of a run (a new trace) and ``node_span`` a child span of
whatever span is current. Both attach their span to the *current* context on enter and
detach it on exit, in the same thread or asyncio task, so "Failed to detach context"
cannot happen as long as a ``with`` block does not span a ``yield`` of an async generator
(for streamed runs use ``RunSpan.start``/``finish`` with :func:`iterate_in_span`).
LangGraph runs each async node as an asyncio task and each sync node in a thread with
``contextvars.copy_context().run``; both copy the context, so spans made inside the node
(warehouse, cache, store) nest under its span. Each object is single-use: create one per
``with``/``async with``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, Status, StatusCode

from telemetry.tally import SpanTally, with_tally

__all__ = [
    "ClientSpan",
    "NodeSpan",
    "RunSpan",
    "client_span",
    "current_trace_id",
    "iterate_in_span",
    "node_span",
    "run_span",
    "shared_links",
    "shared_work",
]

T = TypeVar("T")
TRACER_NAME = "sophia.engine"

# LangGraph raises these (GraphBubbleUp subclasses) to interrupt or redirect a run;
# they are control flow, not failures. Matched by name: telemetry imports no langgraph.
_CONTROL_FLOW = frozenset({"GraphBubbleUp", "GraphInterrupt", "NodeInterrupt", "ParentCommand"})

_tracer: trace.Tracer | None = None


def _engine_tracer() -> trace.Tracer:  # one, following every configure() (global API)
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer(TRACER_NAME)
    return _tracer


_RUN_SPAN = otel_context.create_key("sophia-run-span")
_SHARED_LINKS = otel_context.create_key("sophia-shared-links")


def _run_context(span: Span) -> otel_context.Context:
    """A context with `span` current and remembered as the run's span."""
    return otel_context.set_value(_RUN_SPAN, span, trace.set_span_in_context(span))


@contextlib.contextmanager
def shared_work(callers: Iterable[SpanContext]) -> Iterator[None]:
    """Run the block as work several spans waited on (one batched statement for many nodes).

    With two callers or more, spans started inside are children of the run's span, not of
    whichever caller came first, and link to each caller (see `shared_links`). With one
    caller (the block runs in its context: its spans nest under it), no run span in the
    context, or tracing off, the block runs as it is.
    """
    run = otel_context.get_value(_RUN_SPAN)
    links = tuple(Link(c) for c in {c.span_id: c for c in callers if c.is_valid}.values())
    if run is None or len(links) < 2:
        yield
        return
    ctx = otel_context.set_value(_SHARED_LINKS, links, _run_context(run))  # type: ignore[arg-type]
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def shared_links() -> tuple[Link, ...]:
    """The links to the callers of the shared work in progress (empty outside `shared_work`)."""
    links = otel_context.get_value(_SHARED_LINKS)
    return links if isinstance(links, tuple) else ()


def _is_control_flow(exc: BaseException) -> bool:
    return any(cls.__name__ in _CONTROL_FLOW for cls in type(exc).__mro__)


def _format_trace_id(span: Span) -> str | None:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_trace_id() -> str | None:
    """The 32-hex trace id of the current span, or None when there is none (tracing off)."""
    return _format_trace_id(trace.get_current_span())


class _ScopedSpan(abc.ABC):
    """Shared enter/exit: start, make current, record the outcome, detach, end."""

    _keeps_tally = False
    """Node and run spans total the look-ups and statements made under them (`tally`)."""

    def __init__(self) -> None:
        self._span: Span | None = None
        self._token: object | None = None
        self._tally: SpanTally | None = None

    @abc.abstractmethod
    def _start(self) -> Span:
        """Start (not activate) this kind of span."""

    def __enter__(self) -> Span:
        return self._enter()

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self._exit(exc)

    async def __aenter__(self) -> Span:
        return self._enter()

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        self._exit(exc)

    def _begin(self) -> Span:
        if self._span is not None:
            raise RuntimeError(f"{type(self).__name__} objects are single-use")
        span = self._start()
        self._span = span
        return span

    def _enter(self) -> Span:
        span = self._begin()
        self._token = otel_context.attach(self._tallied(span, trace.set_span_in_context(span)))
        return span

    def _tallied(self, span: Span, ctx: otel_context.Context) -> otel_context.Context:
        """`ctx`, carrying a tally for `span` if this kind of span keeps one."""
        if self._keeps_tally and span.is_recording():
            self._tally = SpanTally(span)
            return with_tally(ctx, self._tally)
        return ctx

    def _record(self, span: Span, exc: BaseException | None) -> None:
        """Mark how the block ended (`sophia.outcome`, and the error if any)."""
        _record_outcome(span, exc)

    def _exit(self, exc: BaseException | None) -> None:
        span = self._span
        assert span is not None and self._token is not None, "exit without enter"
        try:
            totals = self._tally.attributes() if self._tally is not None else None
            if totals:
                span.set_attributes(totals)
            self._record(span, exc)
        finally:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            span.end()


def _record_outcome(span: Span, exc: BaseException | None) -> None:
    if not span.is_recording():
        return
    if exc is None:
        # "ok" was set at the start (one insertion fewer than setting it here); code
        # inside may have caught its error and marked the span itself.
        status = getattr(span, "status", None)
        if status is not None and status.status_code is StatusCode.ERROR:
            span.set_attribute("sophia.outcome", "error")
    elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
        span.set_attribute("sophia.outcome", "cancelled")
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
    elif _is_control_flow(exc):
        span.set_attribute("sophia.outcome", "interrupted")
    else:
        span.set_attribute("sophia.outcome", "error")
        span.set_attribute("error.type", type(exc).__qualname__)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


class NodeSpan(_ScopedSpan):
    """The span of one node execution; see :func:`node_span`."""

    _keeps_tally = True

    def __init__(
        self,
        node_name: str,
        superstep: int | None,
        attempt: int | None,
        attributes: dict[str, Any] | None,
    ) -> None:
        super().__init__()
        attrs: dict[str, Any] = {"sophia.node": node_name, "sophia.outcome": "ok"}
        if superstep is not None:
            attrs["langgraph.step"] = superstep
        if attempt is not None:
            attrs["sophia.attempt"] = attempt
        attrs.update(attributes or {})
        self.name = node_name
        self.attributes = attrs

    def _start(self) -> Span:
        return _engine_tracer().start_span(self.name, attributes=self.attributes)


def node_span(
    node_name: str,
    *,
    superstep: int | None = None,
    attempt: int | None = None,
    attributes: dict[str, Any] | None = None,
) -> NodeSpan:
    """A child span of the current context for one execution of ``node_name``.

    Use with ``with`` (sync nodes) or ``async with`` (async nodes); it yields the span.
    Attributes: ``sophia.node``, ``langgraph.step`` (the superstep), ``sophia.attempt``,
    ``sophia.outcome`` (ok, error, cancelled, interrupted), and the totals of the cache
    look-ups and statements made under it (`telemetry.tally`). On an exception the span
    records it with ERROR status and the exception propagates unchanged.
    """
    return NodeSpan(node_name, superstep, attempt, attributes)


class ClientSpan(_ScopedSpan):
    """A call to another system (a statement, a request); see :func:`client_span`."""

    def __init__(
        self, tracer: trace.Tracer, name: str, attributes: dict[str, Any], links: tuple[Link, ...]
    ) -> None:
        super().__init__()
        self._tracer = tracer
        self.name = name
        self.attributes = attributes
        self.links = links

    def _start(self) -> Span:
        return self._tracer.start_span(
            self.name, kind=trace.SpanKind.CLIENT, attributes=self.attributes, links=self.links
        )

    def _record(self, span: Span, exc: BaseException | None) -> None:
        if exc is not None:  # a success needs no attribute: the monitor has the outcome
            _record_outcome(span, exc)


def client_span(
    tracer: trace.Tracer,
    name: str,
    attributes: dict[str, Any],
    *,
    links: tuple[Link, ...] = (),
) -> ClientSpan:
    """A CLIENT span of ``tracer``, child of the current context, made current in the block.

    All ``attributes`` known up front are given at the start (one insertion, where
    setting them one by one takes the span's lock each time). On an exception it is
    recorded as in :func:`node_span`; the span carries no ``sophia.outcome`` otherwise.
    """
    return ClientSpan(tracer, name, attributes, links)


class RunSpan(_ScopedSpan):
    """The root span of one run; see :func:`run_span`."""

    _keeps_tally = True

    def __init__(
        self, graph_name: str, run_id: str, attributes: dict[str, Any] | None, new_trace: bool
    ) -> None:
        super().__init__()
        self.name = graph_name
        self.attributes: dict[str, Any] = {
            "sophia.graph": graph_name, "sophia.run_id": run_id, "sophia.outcome": "ok"
        }  # fmt: skip
        self.attributes.update(attributes or {})
        self.new_trace = new_trace

    @property
    def trace_id(self) -> str | None:
        """The run's trace id, 32 hex digits, once started (None when tracing is off)."""
        return _format_trace_id(self.span)

    @property
    def span(self) -> Span:
        """The root span (valid between enter and exit), e.g. to set the run's outcome."""
        if self._span is None:
            raise RuntimeError("run_span is not entered")
        return self._span

    def start(self) -> str | None:
        """Start the span *without* making it current; returns its trace id.

        For streaming runs: pair with :func:`iterate_in_span` and :meth:`finish`, so
        that the span is never attached across a ``yield`` (the cause of "Failed to
        detach context" when a consumer abandons a stream).
        """
        return _format_trace_id(self._begin())

    def finish(self, exc: BaseException | None = None) -> None:
        """End a span begun with :meth:`start`, recording ``exc`` as in ``__exit__``."""
        span = self.span
        if self._token is not None:
            raise RuntimeError("finish() is for run spans begun with start(), not with `with`")
        _record_outcome(span, exc)
        span.end()

    def _enter(self) -> Span:
        span = self._begin()
        self._token = otel_context.attach(self._tallied(span, _run_context(span)))
        return span

    def _start(self) -> Span:
        parent = None
        if self.new_trace:
            current = trace.get_current_span().get_span_context()
            if not (current.is_valid and current.is_remote):
                # An empty Context has no parent: the run starts its own trace even when
                # called inside a local span (a server span, a test's span).
                parent = otel_context.Context()
        return _engine_tracer().start_span(self.name, context=parent, attributes=self.attributes)


def run_span(
    graph_name: str,
    run_id: str,
    *,
    attributes: dict[str, Any] | None = None,
    new_trace: bool = True,
) -> RunSpan:
    """The root span of a run, named after the graph, with ``sophia.graph`` and ``sophia.run_id``.

    ``with run_span("deal_review", run_id) as span:`` (or ``async with``) makes it
    current and yields the span; ``.trace_id`` (or :func:`current_trace_id` inside the
    block) gives its trace id as 32 hex digits (None when tracing is off).

    Parent: by default the run starts a new trace, ignoring any *local* current span;
    but when the current span context is *remote* (a W3C ``traceparent`` a caller sent,
    made current with ``opentelemetry.propagate.extract``), the run continues the
    caller's trace as its child. ``new_trace=False`` nests it under whatever is current.
    Errors are recorded as in :func:`node_span`.

    For a streamed run, do not hold it open across ``yield`` with ``with``; instead::

        run = run_span(graph_name, run_id)
        trace_id = run.start()
        try:
            async for update in iterate_in_span(run.span, graph.astream(...)):
                yield update
        except BaseException as exc:
            run.finish(exc)
            raise
        run.finish()
    """
    return RunSpan(graph_name, run_id, attributes, new_trace)


async def iterate_in_span(span: Span, source: AsyncIterator[T]) -> AsyncIterator[T]:
    """Yield from ``source`` with ``span`` current while each item is produced.

    The span is attached around each ``__anext__`` and detached before the item is
    yielded, so it is never attached across a ``yield``: whatever task consumes the
    stream, and even if it stops early, attach and detach always pair up in one context.
    Tasks that ``source`` creates meanwhile (LangGraph's node tasks) copy the context
    with the span current, so their spans nest under it. ``source`` is closed when the
    iteration ends or is abandoned. The span is not ended here.
    """
    try:
        while True:
            token = otel_context.attach(_run_context(span))
            try:
                item = await anext(source)
            except StopAsyncIteration:
                return
            finally:
                otel_context.detach(token)
            yield item
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            token = otel_context.attach(_run_context(span))
            try:
                await aclose()
            finally:
                otel_context.detach(token)
