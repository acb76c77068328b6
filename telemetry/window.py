"""A bounded sliding window of durations for one operation, with per-interval summaries.

Not thread-safe on its own: :class:`telemetry.monitor_registry.Monitor` holds a lock around it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

__all__ = ["OperationWindow", "percentile"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, by linear interpolation.

    Same definition as ``numpy.percentile``'s default (method ``linear``); NaN when empty.
    """
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def _summarise(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


class _Interval:
    """Samples of one interval of the time series (sample list capped, counts exact)."""

    __slots__ = ("breaches", "count", "errors", "samples", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0
        self.errors = 0
        self.breaches = 0
        self.samples: list[float] = []

    def point(self) -> dict[str, Any]:
        return {
            "t": self.start,
            "count": self.count,
            "errors": self.errors,
            "breaches": self.breaches,
            **{k: v for k, v in _summarise(self.samples).items() if k != "mean"},
        }


class OperationWindow:
    """Durations of one operation from the last ``window_s`` seconds, at most ``max_samples``.

    Also keeps the last ``max_intervals`` per-interval summaries (``interval_s`` each) and
    totals since creation. Times are epoch seconds given by the caller.
    """

    def __init__(
        self,
        operation: str,
        *,
        kind: str | None,
        threshold_ms: float,
        window_s: float,
        max_samples: int,
        interval_s: float,
        max_intervals: int,
    ) -> None:
        self.operation = operation
        self.kind = kind
        self.threshold_ms = threshold_ms
        self.window_s = window_s
        self.interval_s = interval_s
        self.max_samples = max_samples
        # (time, duration_ms, error, breached); deque maxlen enforces the count bound.
        self._samples: deque[tuple[float, float, bool, bool]] = deque(maxlen=max_samples)
        self._points: deque[dict[str, Any]] = deque(maxlen=max_intervals)
        self._current: _Interval | None = None
        self.total_count = 0
        self.total_errors = 0
        self.total_breaches = 0
        self.last_seen = 0.0

    def add(
        self, now: float, duration_ms: float, *, error: bool, breached: bool, threshold_ms: float
    ) -> None:
        """Add one sample taken at ``now``."""
        self.threshold_ms = threshold_ms
        self.last_seen = now
        self._samples.append((now, duration_ms, error, breached))
        self.total_count += 1
        self.total_errors += error
        self.total_breaches += breached
        self._expire(now)
        interval = self._interval_at(now)
        interval.count += 1
        interval.errors += error
        interval.breaches += breached
        if len(interval.samples) < self.max_samples:
            interval.samples.append(duration_ms)

    def summary(self, now: float) -> dict[str, Any]:
        """Counts and percentiles over the samples still inside the window at ``now``."""
        self._expire(now)
        durations = [s[1] for s in self._samples]
        return {
            "kind": self.kind,
            "threshold_ms": self.threshold_ms,
            "window_s": self.window_s,
            "count": len(durations),
            "errors": sum(1 for s in self._samples if s[2]),
            "breaches": sum(1 for s in self._samples if s[3]),
            **_summarise(durations),
            "total_count": self.total_count,
            "total_errors": self.total_errors,
            "total_breaches": self.total_breaches,
            "last_seen": self.last_seen,
        }

    def series(self, now: float) -> list[dict[str, Any]]:
        """Closed interval summaries, oldest first, then the interval in progress (if any)."""
        if self._current is not None:
            self._interval_at(now)  # closes the interval in progress if it has ended
        points = list(self._points)
        if self._current is not None and self._current.count:
            points.append(self._current.point())
        return points

    def __len__(self) -> int:
        return len(self._samples)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        samples = self._samples
        while samples and samples[0][0] < cutoff:
            samples.popleft()

    def _interval_at(self, now: float) -> _Interval:
        start = math.floor(now / self.interval_s) * self.interval_s
        current = self._current
        if current is None or start > current.start:
            if current is not None and current.count:
                self._points.append(current.point())
            current = _Interval(start)
            self._current = current
        return current
