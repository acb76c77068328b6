"""Fixtures: telemetry configured with in-memory span and metric exporters (real OTel SDK)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry
from telemetry.monitoring import Monitor, use_monitor
from tests.telemetry.otel_capture import Captured


@pytest.fixture
def captured() -> Iterator[Captured]:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    tel = telemetry.configure(
        service_name="sophia-test",
        prometheus=False,
        metric_readers=[reader],
        span_processors_for_tests=[SimpleSpanProcessor(exporter)],
    )
    try:
        yield Captured(tel, exporter, reader)
    finally:
        tel.shutdown()


@pytest.fixture(autouse=True)
def fresh_monitor() -> Iterator[Monitor]:
    """Each test reports to its own monitor registry, current for the test's body."""
    with use_monitor(Monitor()) as registry:
        yield registry


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's OTEL_* environment out of the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
