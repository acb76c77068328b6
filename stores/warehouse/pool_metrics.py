"""Connection pool metrics: counters for ``ConnectionPool.stats()`` and the OTel instruments.

Instruments follow the database client semantic conventions (``db.client.connection.*``),
tagged with the pool name. The gauges (connections by state, tasks waiting) are
*observable*: a callback reads every live pool's counts when a reader collects, so
checking a connection out and in costs no metric update on the hot path. OTel keeps the
first callback when an instrument name is registered twice, so the gauges are made once
per process and report every pool registered here.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from opentelemetry import metrics

from telemetry.deferred_histogram import DeferredHistogram

CONNECTION_TIME_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""Bucket bounds (seconds) the database semantic conventions advise for the connection
durations. The SDK's default bounds (0, 5, 10, 25, ... 10000) suit milliseconds: with them
every sub-second wait fell in the first bucket, and a p95 panel read ~4.75 s."""


class GaugeSource(Protocol):
    """What the gauges read off a pool: its metrics (for the attributes) and its counts."""

    metrics: PoolMetrics

    def gauge_counts(self) -> tuple[int, int, int]:
        """(in use, idle, waiting) right now."""
        ...


class PoolMetrics:
    """Counters kept for `ConnectionPool.stats()`, mirrored to the OTel meter.

    Histograms and counters are recorded as events happen (acquire waits, connects,
    timeouts, connect failures); the connection-state gauges are observed at collection
    time from the pools passed to :meth:`report`.
    """

    def __init__(self, pool_name: str, system: str) -> None:
        meter = metrics.get_meter("sophia.pool")
        self.attrs: dict[str, str] = {
            "db.client.connection.pool.name": pool_name,
            "db.system.name": system,
        }
        self.wait_time = DeferredHistogram(  # one value per acquire: batched off the path
            meter,
            "db.client.connection.wait_time",
            unit="s",
            description="Time to acquire a connection",
            buckets=CONNECTION_TIME_BUCKETS_S,
        )
        self.create_time = meter.create_histogram(
            "db.client.connection.create_time",
            unit="s",
            description="Time to open a connection",
            explicit_bucket_boundaries_advisory=CONNECTION_TIME_BUCKETS_S,
        )
        self.timeouts = meter.create_counter(
            "db.client.connection.timeouts", unit="{timeout}", description="Acquire timeouts"
        )
        self.connect_failures_counter = meter.create_counter(
            "sophia.pool.connect_failures", unit="{failure}", description="Failed connects"
        )
        _ensure_gauges()
        self.connects = 0
        self.connect_failures = 0
        self.discarded = 0
        self.health_failures = 0
        self.wait_count = 0
        self.wait_total_s = 0.0
        self.wait_max_s = 0.0

    def record_wait(self, seconds: float) -> None:
        """Record one successful acquire that waited ``seconds``."""
        self.wait_count += 1
        self.wait_total_s += seconds
        self.wait_max_s = max(self.wait_max_s, seconds)
        self.wait_time.record(seconds, self.attrs)

    @staticmethod
    def report(pool: GaugeSource) -> None:
        """Report ``pool`` in the connection gauges until :meth:`forget` (or it is collected)."""
        with _LIVE_LOCK:
            _LIVE.add(pool)

    @staticmethod
    def forget(pool: GaugeSource) -> None:
        """Stop reporting ``pool`` (it closed)."""
        with _LIVE_LOCK:
            _LIVE.discard(pool)

    def snapshot(self) -> dict[str, Any]:
        """Counters and acquire-wait figures as plain numbers (waits in milliseconds)."""
        return {
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "discarded": self.discarded,
            "health_check_failures": self.health_failures,
            "acquire_count": self.wait_count,
            "acquire_wait_total_ms": round(self.wait_total_s * 1000, 3),
            "acquire_wait_max_ms": round(self.wait_max_s * 1000, 3),
        }


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()  # readers collect on their own threads while pools come and go
_GAUGES_LOCK = threading.Lock()
_gauges_made = False


def _live_pools() -> list[Any]:
    with _LIVE_LOCK:
        return list(_LIVE)


def _observe_connections(_: metrics.CallbackOptions) -> Iterator[metrics.Observation]:
    for pool in _live_pools():
        in_use, idle, _waiting = pool.gauge_counts()
        attrs = pool.metrics.attrs
        yield metrics.Observation(in_use, {**attrs, "db.client.connection.state": "used"})
        yield metrics.Observation(idle, {**attrs, "db.client.connection.state": "idle"})


def _observe_pending(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
    return [metrics.Observation(p.gauge_counts()[2], p.metrics.attrs) for p in _live_pools()]


def _ensure_gauges() -> None:
    """Make the observable gauges once per process, on the global meter."""
    global _gauges_made
    with _GAUGES_LOCK:
        if _gauges_made:
            return
        _gauges_made = True
    meter = metrics.get_meter("sophia.pool")
    meter.create_observable_up_down_counter(
        "db.client.connection.count",
        [_observe_connections],
        unit="{connection}",
        description="Connections by state",
    )
    meter.create_observable_up_down_counter(
        "db.client.connection.pending_requests",
        [_observe_pending],
        unit="{request}",
        description="Tasks waiting for a connection",
    )
