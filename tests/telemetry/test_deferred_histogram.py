"""DeferredHistogram: values reach every reader at its next collection, memory stays bounded."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from telemetry.deferred_histogram import DeferredHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def points(reader: InMemoryMetricReader, name: str) -> dict[tuple[Any, ...], Any]:
    data = reader.get_metrics_data()
    found: dict[tuple[Any, ...], Any] = {}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for p in metric.data.data_points:
                        found[tuple(sorted(p.attributes.items()))] = p
    return found


def make(provider: MeterProvider, limit: int = 100) -> DeferredHistogram:
    return DeferredHistogram(provider.get_meter("t"), "t.wait", unit="s", description="d",
                             buckets=BUCKETS, limit=limit)  # fmt: skip


def test_values_reach_every_reader_at_its_collection_in_their_buckets() -> None:
    first, second = InMemoryMetricReader(), InMemoryMetricReader()
    histogram = make(MeterProvider(metric_readers=[first, second]))
    histogram.record(0.0004, {"pool": "a"})  # sub-millisecond: the first bucket
    histogram.record(0.05, {"pool": "a"})
    histogram.record(2.0, {"pool": "b"})
    assert histogram.pending == 3
    for reader in (first, second):
        got = points(reader, "t.wait")
        a, b = got[(("pool", "a"),)], got[(("pool", "b"),)]
        assert (a.count, list(a.bucket_counts)) == (2, [1, 0, 1, 0, 0])
        assert (b.count, list(b.bucket_counts)) == (1, [0, 0, 0, 0, 1])
    assert histogram.pending == 0


def test_waiting_values_are_bounded_without_any_collection() -> None:
    reader = InMemoryMetricReader()
    histogram = make(MeterProvider(metric_readers=[reader]), limit=10)
    for _ in range(25):
        histogram.record(0.5, None)
        assert histogram.pending < 10
    assert points(reader, "t.wait")[()].count == 25


def test_two_histograms_of_one_name_on_one_meter_both_hand_over() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    one, two = make(provider), make(provider)
    one.record(0.5, {"pool": "one"})
    two.record(0.5, {"pool": "two"})
    assert set(points(reader, "t.wait")) == {(("pool", "one"),), (("pool", "two"),)}


def test_a_dropped_histogram_does_not_break_collection() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    kept = make(provider)
    dropped = make(provider)
    dropped.record(0.5, {"pool": "gone"})
    dropped.flush()
    del dropped
    gc.collect()
    kept.record(0.5, {"pool": "kept"})
    assert points(reader, "t.wait")[(("pool", "kept"),)].count == 1


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        make(MeterProvider(), limit=0)
