"""The in-process half of the performance monitor: `Monitor`, a registry of sliding
windows per operation, and the thresholds that decide a breach.

Each `Monitor` belongs to its owner (an Engine); `telemetry.monitoring.monitor()` reports
the durations it measures to the current one. Every recorded duration also goes to the
OpenTelemetry histogram ``sophia.operation.duration`` (`record_histogram`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics

from telemetry.deferred_histogram import DeferredHistogram
from telemetry.window import OperationWindow

__all__ = [
    "BREACH_EVENT",
    "DEFAULT_THRESHOLDS_MS",
    "HISTOGRAM_NAME",
    "UNKNOWN_KIND_THRESHOLD_MS",
    "Monitor",
    "record_histogram",
    "resolve_threshold",
]

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
        record_histogram(operation, duration_ms, kind, error=error)
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


_histogram: DeferredHistogram | None = None


def record_histogram(operation: str, duration_ms: float, kind: str | None, *, error: bool) -> None:
    """Add one duration to the ``sophia.operation.duration`` histogram."""
    _duration_histogram().record(
        duration_ms,
        {
            "sophia.operation": operation,
            "sophia.operation.kind": kind or "unknown",
            "sophia.outcome": "error" if error else "ok",
        },
    )


def _duration_histogram() -> DeferredHistogram:
    """The one histogram every registry reports to, made on first use.

    Made through the global API: before ``configure()`` the API's proxy meter hands out a
    proxy instrument that forwards to the real one once a provider is installed. Values
    reach the SDK in batches (`DeferredHistogram`).
    """
    global _histogram
    if _histogram is None:
        _histogram = DeferredHistogram(
            metrics.get_meter("sophia.telemetry"),
            HISTOGRAM_NAME,
            unit="ms",
            description="Duration of monitored operations.",
            buckets=DURATION_BUCKETS_MS,
        )
    return _histogram
