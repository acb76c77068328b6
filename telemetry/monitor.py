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
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import metrics, trace

from telemetry.window import OperationWindow

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

DEFAULT_THRESHOLDS_MS: dict[str, float] = {
    "database_query": 100.0,
    "agent": 200.0,
    "cache": 10.0,
    "vector_search": 50.0,
    "run": 1000.0,
}
"""Alert thresholds per kind of operation, in milliseconds."""

UNKNOWN_KIND_THRESHOLD_MS = 1000.0
"""The threshold for an operation with no kind, or a kind not in DEFAULT_THRESHOLDS_MS."""

HISTOGRAM_NAME = "sophia.operation.duration"
DURATION_BUCKETS_MS = (0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
"""Bucket bounds of the duration histogram: cache and index operations take well under a
millisecond, runs hundreds (the SDK's default bounds start at 5 ms)."""
BREACH_EVENT = "sophia.threshold_breach"


def resolve_threshold(threshold_ms: float | None, kind: str | None) -> float:
    """The threshold that applies: the explicit one if given, else the kind's default."""
    if threshold_ms is not None:
        if threshold_ms < 0:
            raise ValueError(f"threshold_ms must be >= 0, got {threshold_ms}")
        return float(threshold_ms)
    if kind is None:
        return UNKNOWN_KIND_THRESHOLD_MS
    return DEFAULT_THRESHOLDS_MS.get(kind, UNKNOWN_KIND_THRESHOLD_MS)


class Monitor:
    """A registry of sliding windows, one per operation name; safe to share between threads.

    Promises: each window holds at most ``max_samples`` durations no older than
    ``window_s`` seconds, plus a time series of at most ``max_intervals`` per-interval
    summaries (each ``interval_s`` long). Breach warnings are rate-limited to one per
    operation per ``breach_log_interval_s`` (see :meth:`take_breach_log`). ``clock``
    returns seconds since the epoch and is injectable so tests can feed known times.
    Nothing is measured here: :meth:`record` takes a duration that was measured elsewhere.
    """

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        max_samples: int = 10_000,
        interval_s: float = 10.0,
        max_intervals: int = 360,
        max_operations: int = 1_000,
        breach_log_interval_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_s <= 0 or interval_s <= 0:
            raise ValueError("window_s and interval_s must be > 0")
        if breach_log_interval_s < 0:
            raise ValueError("breach_log_interval_s must be >= 0")
        if max_samples < 1 or max_intervals < 1 or max_operations < 1:
            raise ValueError("max_samples, max_intervals and max_operations must be >= 1")
        self.window_s = window_s
        self.max_samples = max_samples
        self.interval_s = interval_s
        self.max_intervals = max_intervals
        self.max_operations = max_operations
        self.breach_log_interval_s = breach_log_interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, OperationWindow] = {}
        # operation -> (when its last warning was logged, breaches since then)
        self._breach_logs: dict[str, tuple[float, int]] = {}

    def record(
        self,
        operation: str,
        duration_ms: float,
        *,
        kind: str | None = None,
        threshold_ms: float | None = None,
        error: bool = False,
    ) -> bool:
        """Record one duration of ``operation``; returns True when it breached the threshold.

        Updates the in-process window and the OTel histogram. It does not log or add
        span events (``monitor`` does that, where the span is current).
        """
        threshold = resolve_threshold(threshold_ms, kind)
        breached = duration_ms > threshold
        now = self.clock()
        with self._lock:
            window = self._windows.get(operation)
            if window is None:
                if len(self._windows) >= self.max_operations:
                    # Bounded: forget the operation seen least recently.
                    stalest = min(self._windows.items(), key=lambda item: item[1].last_seen)
                    del self._windows[stalest[0]]
                    self._breach_logs.pop(stalest[0], None)
                window = OperationWindow(
                    operation,
                    kind=kind,
                    threshold_ms=threshold,
                    window_s=self.window_s,
                    max_samples=self.max_samples,
                    interval_s=self.interval_s,
                    max_intervals=self.max_intervals,
                )
                self._windows[operation] = window
            window.add(now, duration_ms, error=error, breached=breached, threshold_ms=threshold)
        _record_histogram(operation, duration_ms, kind, error=error)
        return breached

    def take_breach_log(self, operation: str) -> int | None:
        """Count one breach of ``operation``; whether to log a warning for it now.

        Returns None while a warning for the operation was logged less than
        ``breach_log_interval_s`` ago, else the number of breaches since the last warning
        (this one included), so that a saturated server logs one line per operation per
        interval instead of one per slow call. Every breach is still counted in the
        window and the histogram, and gets its span event.
        """
        now = self.clock()
        with self._lock:
            last, count = self._breach_logs.get(operation, (-math.inf, 0))
            count += 1
            if now - last >= self.breach_log_interval_s:
                self._breach_logs[operation] = (now, 0)
                return count
            self._breach_logs[operation] = (last, count)
            return None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per operation: count, errors, breaches, p50/p95/p99/max/mean over the window.

        Also the totals since the operation was first seen (``total_count``,
        ``total_errors``, ``total_breaches``), its ``kind`` and ``threshold_ms``.
        Operations with no sample left in the window still appear with zero counts.
        """
        now = self.clock()
        with self._lock:
            return {name: w.summary(now) for name, w in sorted(self._windows.items())}

    def series(self, operation: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Per operation, the per-interval summaries (oldest first) a dashboard can draw.

        Each point: ``t`` (interval start, epoch seconds), count, errors, breaches,
        p50, p95, p99, max. The interval in progress is included as the last point.
        """
        now = self.clock()
        with self._lock:
            items = sorted(self._windows.items())
            return {name: w.series(now) for name, w in items if operation in (None, name)}

    def reset(self) -> None:
        """Forget every operation (the histogram, once exported, is not affected)."""
        with self._lock:
            self._windows.clear()
            self._breach_logs.clear()


_histogram: metrics.Histogram | None = None


def _record_histogram(operation: str, duration_ms: float, kind: str | None, *, error: bool) -> None:
    _duration_histogram().record(
        duration_ms,
        {
            "sophia.operation": operation,
            "sophia.operation.kind": kind or "unknown",
            "sophia.outcome": "error" if error else "ok",
        },
    )


def _duration_histogram() -> metrics.Histogram:
    """The one histogram every registry reports to, made on first use.

    Made through the global API: before ``configure()`` the API's proxy meter hands out a
    proxy instrument that forwards to the real one once a provider is installed.
    """
    global _histogram
    if _histogram is None:
        _histogram = metrics.get_meter("sophia.telemetry").create_histogram(
            HISTOGRAM_NAME,
            unit="ms",
            description="Duration of monitored operations.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_MS,
        )
    return _histogram


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
            _record_histogram(self.operation, duration_ms, self.kind, error=error)
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
