"""The performance monitor: durations per operation, percentiles and threshold alerts.

``monitor(operation, threshold_ms=None, kind=None)`` measures a block of code or a
function (sync or async) and reports the duration in milliseconds to three places:

* the OpenTelemetry histogram ``sophia.operation.duration`` (unit ``ms``; attributes
  ``sophia.operation``, ``sophia.operation.kind`` and ``sophia.outcome`` = ``ok`` or
  ``error``), obtained from ``opentelemetry.metrics.get_meter`` so it is a no-op until
  ``telemetry.configure()`` installs a meter provider;
* an in-process :class:`Monitor` registry (a sliding window per operation, see
  :mod:`telemetry.window`) for ``sophia stats``, ``/stats`` and the dashboard;
* on a breach of the threshold, a ``sophia.threshold_breach`` event on the current span,
  and a WARNING log record naming the operation, the duration and the threshold (at
  most one per operation per ``Monitor.breach_log_interval_s``, 10 s by default, with
  the number of breaches since the previous one).

Exceptions raised by the measured code are recorded with outcome ``error`` and re-raised.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import trace

from telemetry.monitor_registry import (
    BREACH_EVENT,
    DEFAULT_THRESHOLDS_MS,
    UNKNOWN_KIND_THRESHOLD_MS,
    Monitor,
    record_histogram,
    resolve_threshold,
)

__all__ = [
    "DEFAULT_THRESHOLDS_MS",
    "UNKNOWN_KIND_THRESHOLD_MS",
    "Monitor",
    "Monitored",
    "current_monitor",
    "monitor",
    "resolve_threshold",
    "use_monitor",
]

P = ParamSpec("P")
T = TypeVar("T")

logger = logging.getLogger(__name__)

_current: ContextVar[Monitor | None] = ContextVar("sophia_current_monitor", default=None)


def current_monitor() -> Monitor | None:
    """The registry ``monitor()`` reports to in this context (None: histogram and log only).

    The owner of a `Monitor` (an Engine) makes it current with :func:`use_monitor` while
    it opens and while each of its runs executes; tasks and threads started from there
    inherit it (asyncio copies the context). There is no process-wide registry: two
    engines in one process each see their own figures.
    """
    return _current.get()


@contextlib.contextmanager
def use_monitor(registry: Monitor) -> Iterator[Monitor]:
    """Make `registry` the current monitor for the block (restored on exit)."""
    token = _current.set(registry)
    try:
        yield registry
    finally:
        _current.reset(token)


# Start times of active ``with`` blocks, per execution context (thread or asyncio task),
# so that one Monitored object can be entered concurrently from several tasks.
_starts: ContextVar[tuple[tuple[int, float], ...]] = ContextVar("sophia_monitor_starts", default=())


class Monitored:
    """What ``monitor()`` returns: a decorator (sync or async) and a sync/async context manager.

    Every call of a decorated function, and every ``with`` block, is one measurement.
    """

    def __init__(
        self,
        operation: str,
        threshold_ms: float | None,
        kind: str | None,
        registry: Monitor | None,
    ) -> None:
        if not operation:
            raise ValueError("monitor() needs a non-empty operation name")
        self.operation = operation
        self.kind = kind
        self.threshold_ms = resolve_threshold(threshold_ms, kind)
        self._registry = registry

    @property
    def registry(self) -> Monitor | None:
        """The registry measurements go to: the given one, else the current one, if any."""
        return self._registry if self._registry is not None else _current.get()

    def finish(self, duration_ms: float, *, error: bool) -> bool:
        """Report one measurement: registry, histogram, and on a breach a span event and
        (rate-limited by the registry; none without one) a warning."""
        registry = self.registry
        if registry is None:
            record_histogram(self.operation, duration_ms, self.kind, error=error)
            breached, due = duration_ms > self.threshold_ms, None
        else:
            breached = registry.record(
                self.operation,
                duration_ms,
                kind=self.kind,
                threshold_ms=self.threshold_ms,
                error=error,
            )
            due = registry.take_breach_log(self.operation) if breached else None
        if breached:
            if due is not None:
                logger.warning(
                    "slow operation %s: %.1f ms, over its threshold of %.1f ms%s",
                    self.operation,
                    duration_ms,
                    self.threshold_ms,
                    f" ({due} breaches since the last warning)" if due > 1 else "",
                )
            span = trace.get_current_span()
            if span.is_recording():
                span.add_event(
                    BREACH_EVENT,
                    {
                        "sophia.operation": self.operation,
                        "sophia.operation.kind": self.kind or "unknown",
                        "sophia.duration_ms": duration_ms,
                        "sophia.threshold_ms": self.threshold_ms,
                    },
                )
        return breached

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> Monitored:
        _starts.set((*_starts.get(), (id(self), time.perf_counter())))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end = time.perf_counter()
        stack = _starts.get()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == id(self):
                start = stack[i][1]
                _starts.set(stack[:i] + stack[i + 1 :])
                break
        else:  # pragma: no cover - exit without enter is a caller bug
            raise RuntimeError(f"monitor({self.operation!r}) exited without being entered")
        self.finish((end - start) * 1000.0, error=exc_type is not None)

    async def __aenter__(self) -> Monitored:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator -------------------------------------------------------------------
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Wrap ``fn`` (sync or async) so that every call is measured."""
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"monitor({self.operation!r}) cannot time the generator function "
                f"{fn.__qualname__}; use `with monitor(...)` inside it instead"
            )
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = time.perf_counter()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException:
                    self.finish((time.perf_counter() - start) * 1000.0, error=True)
                    raise
                self.finish((time.perf_counter() - start) * 1000.0, error=False)
                return result

            return cast(Callable[P, T], async_wrapper)

        @functools.wraps(fn)
        def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except BaseException:
                self.finish((time.perf_counter() - start) * 1000.0, error=True)
                raise
            self.finish((time.perf_counter() - start) * 1000.0, error=False)
            return result

        return sync_wrapper


def monitor(
    operation: str,
    threshold_ms: float | None = None,
    *,
    kind: str | None = None,
    registry: Monitor | None = None,
) -> Monitored:
    """Measure ``operation``: use as ``@monitor(...)`` on a sync or async function, or ``with``.

    The threshold is ``threshold_ms`` if given, else the default of ``kind``
    (database_query 100, agent 200, cache 10, vector_search 50, run 1000 ms; any other
    kind or none: 1000 ms). Durations go to ``registry`` (default: the current one, see
    :func:`use_monitor`; none outside an engine)
    and to the ``sophia.operation.duration`` histogram; exceptions count as errors and
    propagate unchanged.
    """
    return Monitored(operation, threshold_ms, kind, registry)
