"""An OpenTelemetry histogram whose values reach the SDK in batches, off the caller's path.

The SDK's ``Histogram.record`` hashes the attributes, takes locks and aggregates on the
caller's path: ~6 us a value here, and a deal review records ~40 of them (node, run and
query durations, cache look-ups, pool waits). `DeferredHistogram.record` only appends the
value to a queue; the queue is handed to the SDK histogram

* whenever a metric reader collects (a callback on the same meter runs at the start of
  every collection, so ``/metrics``, OTLP exports and in-memory readers hold every value
  recorded before them), and
* at the latest once `limit` values wait, so memory stays bounded when nothing collects.

It is what a ``BatchSpanProcessor`` is to spans: the same data, aggregated later. What is
lost: exemplars (a value no longer carries the context it was recorded in).
"""

from __future__ import annotations

import itertools
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import metrics

__all__ = ["DeferredHistogram"]

DEFAULT_LIMIT = 4096
"""Values that may wait before `record` hands them over itself."""

_handover_names = itertools.count(1)


class DeferredHistogram:
    """``meter.create_histogram(name, ...)`` with a cheap `record`; see the module docstring."""

    def __init__(
        self,
        meter: metrics.Meter,
        name: str,
        *,
        unit: str,
        description: str,
        buckets: Sequence[float],
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.name = name
        self.limit = limit
        self._histogram = meter.create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
        )
        self._pending: deque[tuple[float, Mapping[str, Any] | None]] = deque()
        # An observable instrument that observes nothing: its callback is the hook that
        # runs in every collection. Its name is unique (instruments are deduplicated by
        # name, which would keep only the first histogram's hook), and it holds this
        # object weakly so that a closed engine's histogram can be collected.
        owner = weakref.ref(self)
        meter.create_observable_gauge(
            f"sophia.telemetry.handover.{next(_handover_names)}",
            callbacks=[lambda _options: _hand_over(owner)],
            description=f"hands the values of {name} to the SDK (observes nothing)",
        )

    def record(self, value: float, attributes: Mapping[str, Any] | None = None) -> None:
        """Queue one value (handed to the SDK at the next collection)."""
        pending = self._pending
        pending.append((value, attributes))
        if len(pending) >= self.limit:
            self.flush()

    def flush(self) -> int:
        """Hand every queued value to the SDK histogram now; how many there were."""
        pending, record = self._pending, self._histogram.record
        handed = 0
        while True:
            try:
                value, attributes = pending.popleft()
            except IndexError:  # empty (another thread may be flushing too)
                return handed
            record(value, attributes)
            handed += 1

    @property
    def pending(self) -> int:
        """Values recorded and not yet handed over."""
        return len(self._pending)


def _hand_over(owner: weakref.ref[DeferredHistogram]) -> Iterable[metrics.Observation]:
    histogram = owner()
    if histogram is not None:
        histogram.flush()
    return ()
