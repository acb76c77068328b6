"""The performance monitor: decorators, context manager, thresholds, percentiles, bounds."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint

from telemetry.monitoring import DEFAULT_THRESHOLDS_MS, Monitor, monitor, resolve_threshold
from tests.telemetry.otel_capture import Captured


class FakeClock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_sync_decorator_records_and_returns(fresh_monitor: Monitor) -> None:
    @monitor("unit.add", kind="cache")
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert add(1, 1) == 2
    snap = fresh_monitor.snapshot()["unit.add"]
    assert snap["count"] == 2 and snap["errors"] == 0
    assert snap["kind"] == "cache" and snap["threshold_ms"] == 10.0
    assert add.__name__ == "add"  # functools.wraps


async def test_async_decorator_records_and_returns(fresh_monitor: Monitor) -> None:
    @monitor("unit.fetch", kind="database_query")
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert asyncio.iscoroutinefunction(fetch)
    assert await fetch(21) == 42
    snap = fresh_monitor.snapshot()["unit.fetch"]
    assert snap["count"] == 1 and snap["threshold_ms"] == 100.0


async def test_exceptions_count_as_errors_and_propagate(fresh_monitor: Monitor) -> None:
    @monitor("unit.fails_sync")
    def fails() -> None:
        raise KeyError("missing")

    @monitor("unit.fails_async")
    async def afails() -> None:
        raise ValueError("bad")

    with pytest.raises(KeyError):
        fails()
    with pytest.raises(ValueError, match="bad"):
        await afails()
    with pytest.raises(RuntimeError), monitor("unit.fails_block"):
        raise RuntimeError("x")
    snap = fresh_monitor.snapshot()
    for name in ("unit.fails_sync", "unit.fails_async", "unit.fails_block"):
        assert snap[name]["count"] == 1 and snap[name]["errors"] == 1


def test_context_manager_reusable_and_nested(fresh_monitor: Monitor) -> None:
    block = monitor("unit.block", kind="agent")
    with block:
        with block:  # the same object entered twice: two measurements
            pass
    with block:
        pass
    assert fresh_monitor.snapshot()["unit.block"]["count"] == 3


async def test_one_object_used_by_concurrent_tasks(fresh_monitor: Monitor) -> None:
    block = monitor("unit.shared")

    async def work(i: int) -> None:
        with block:
            await asyncio.sleep(0.001 * (i % 3))

    await asyncio.gather(*(work(i) for i in range(20)))
    assert fresh_monitor.snapshot()["unit.shared"]["count"] == 20


def test_thresholds_per_kind() -> None:
    assert DEFAULT_THRESHOLDS_MS == {
        "database_query": 100.0,
        "agent": 200.0,
        "cache": 10.0,
        "vector_search": 50.0,
        "run": 1000.0,
    }
    assert resolve_threshold(None, "vector_search") == 50.0
    assert resolve_threshold(5.0, "vector_search") == 5.0  # explicit wins
    assert resolve_threshold(None, "something_else") == 1000.0
    assert resolve_threshold(None, None) == 1000.0
    with pytest.raises(ValueError, match="threshold_ms"):
        resolve_threshold(-1.0, None)


def test_breach_logs_warning_and_adds_span_event(
    captured: Captured,
    fresh_monitor: Monitor, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer("tests.monitor")
    caplog.set_level(logging.WARNING, logger="telemetry.monitoring")
    # threshold 0 ms: any measured duration is a breach, no sleeping needed
    with tracer.start_as_current_span("outer"), monitor("unit.slow", threshold_ms=0.0):
        sum(range(1000))
    with tracer.start_as_current_span("fast"), monitor("unit.fast", threshold_ms=60_000):
        pass

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "unit.slow" in message and "threshold of 0.0 ms" in message
    outer = captured.one("outer")
    events = [e for e in outer.events if e.name == "sophia.threshold_breach"]
    assert len(events) == 1
    assert events[0].attributes is not None
    assert events[0].attributes["sophia.operation"] == "unit.slow"
    assert events[0].attributes["sophia.threshold_ms"] == 0.0
    assert float(events[0].attributes["sophia.duration_ms"]) > 0.0  # type: ignore[arg-type]
    assert captured.one("fast").events == ()
    snap = fresh_monitor.snapshot()
    assert snap["unit.slow"]["breaches"] == 1 and snap["unit.fast"]["breaches"] == 0


def test_breach_warnings_are_rate_limited_per_operation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    registry = Monitor(clock=clock, breach_log_interval_s=10.0)
    caplog.set_level(logging.WARNING, logger="telemetry.monitoring")
    slow = monitor("unit.burst", threshold_ms=0.0, registry=registry)
    other = monitor("unit.other", threshold_ms=0.0, registry=registry)
    for _ in range(5):
        with slow:
            sum(range(100))
        clock.now += 1.0
    with other:  # another operation has its own allowance
        sum(range(100))
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert "unit.burst" in messages[0] and "since the last warning" not in messages[0]
    assert "unit.other" in messages[1]
    clock.now += 10.0  # the interval is over: the next breach logs, with the count
    with slow:
        sum(range(100))
    last = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING][-1]
    assert "unit.burst" in last and "(5 breaches since the last warning)" in last
    # every breach was still counted
    assert registry.snapshot()["unit.burst"]["total_breaches"] == 6


def test_percentiles_match_numpy() -> None:
    clock = FakeClock()
    registry = Monitor(clock=clock)
    rng = random.Random(7)
    durations = [rng.lognormvariate(3.0, 0.8) for _ in range(997)]
    for d in durations:
        registry.record("unit.query", d, kind="database_query")
        clock.now += 0.01
    snap = registry.snapshot()["unit.query"]
    assert snap["count"] == len(durations)
    for q in (50, 95, 99):
        assert snap[f"p{q}"] == pytest.approx(float(np.percentile(durations, q)), rel=1e-12)
    assert snap["max"] == max(durations)
    assert snap["breaches"] == sum(d > 100.0 for d in durations)


def test_window_is_bounded_by_count() -> None:
    clock = FakeClock()
    registry = Monitor(max_samples=100, clock=clock)
    for i in range(1000):
        registry.record("unit.many", float(i))
    snap = registry.snapshot()["unit.many"]
    assert snap["count"] == 100
    assert snap["total_count"] == 1000
    # only the newest 100 (900..999) are left
    assert snap["p50"] == pytest.approx(float(np.percentile(np.arange(900, 1000), 50)))
    assert snap["max"] == 999.0


def test_window_is_bounded_by_time() -> None:
    clock = FakeClock()
    registry = Monitor(window_s=60.0, clock=clock)
    for _ in range(10):
        registry.record("unit.old", 500.0, error=True)
    clock.now += 30
    for _ in range(5):
        registry.record("unit.old", 1.0)
    assert registry.snapshot()["unit.old"]["count"] == 15
    clock.now += 31  # the first ten are now older than 60 s
    snap = registry.snapshot()["unit.old"]
    assert snap["count"] == 5 and snap["errors"] == 0 and snap["max"] == 1.0
    assert snap["total_count"] == 15 and snap["total_errors"] == 10
    clock.now += 120
    empty = registry.snapshot()["unit.old"]
    assert empty["count"] == 0 and empty["p99"] is None


def test_operations_are_bounded() -> None:
    registry = Monitor(max_operations=3, clock=FakeClock())
    for i in range(10):
        registry.record(f"op{i}", 1.0)
    assert len(registry.snapshot()) == 3


def test_series_has_one_point_per_interval() -> None:
    clock = FakeClock(start=1_000_000.0)
    registry = Monitor(interval_s=10.0, max_intervals=3, clock=clock)
    expected = []
    for interval in range(5):
        values = [float(interval * 10 + j) for j in range(4)]
        expected.append(values)
        for v in values:
            registry.record("unit.ts", v)
            clock.now += 2.0  # four samples per 10-s interval, at 0, 2, 4, 6 s
        clock.now += 2.0
    points = registry.series()["unit.ts"]
    assert len(points) == 3  # bounded to the last max_intervals (2 closed + 1 in progress)
    assert [p["t"] for p in points] == [1_000_020.0, 1_000_030.0, 1_000_040.0]
    for point, values in zip(points, expected[2:], strict=True):
        assert point["count"] == 4
        assert point["p95"] == pytest.approx(float(np.percentile(values, 95)))
    assert registry.series("nothing") == {}


def test_histogram_recorded_with_attributes(captured: Captured, fresh_monitor: Monitor) -> None:
    @monitor("unit.hist", kind="vector_search")
    def search() -> int:
        return 1

    search()
    search()
    with pytest.raises(ZeroDivisionError), monitor("unit.hist", kind="vector_search"):
        _ = 1 / 0
    data = captured.metrics.get_metrics_data()
    assert data is not None
    points: list[HistogramDataPoint] = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "sophia.operation.duration"
        for p in m.data.data_points
        if isinstance(p, HistogramDataPoint)
    ]
    mine = [dict(p.attributes or {}) | {"count": p.count} for p in points]
    mine = [a for a in mine if a["sophia.operation"] == "unit.hist"]
    assert {a["sophia.outcome"]: a["count"] for a in mine} == {"ok": 2, "error": 1}
    assert {a["sophia.operation.kind"] for a in mine} == {"vector_search"}


def test_monitor_rejects_empty_name() -> None:
    with pytest.raises(ValueError, match="operation"):
        monitor("")


def test_generator_functions_are_refused() -> None:
    def gen() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        monitor("unit.gen")(gen)


def test_registry_is_thread_safe() -> None:
    registry = Monitor(clock=FakeClock())

    def work(worker: int) -> None:
        for i in range(500):
            registry.record(f"unit.t{worker % 2}", float(i), error=i % 10 == 0)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = registry.snapshot()
    assert snap["unit.t0"]["count"] == snap["unit.t1"]["count"] == 1500
    assert snap["unit.t0"]["errors"] == 150
