"""configure(): environment and explicit options, reconfiguration, Prometheus text."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import telemetry
from telemetry.otlp import endpoint_of as _endpoint
from telemetry.switch import SwitchTracerProvider
from tests.telemetry.otel_capture import Captured

early_tracer = trace.get_tracer("tests.configure.early")  # before any configure()


def _configure_memory(**kwargs: Any) -> tuple[telemetry.Telemetry, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tel = telemetry.configure(
        prometheus=False, span_processors_for_tests=[SimpleSpanProcessor(exporter)], **kwargs
    )
    return tel, exporter


def test_configure_twice_switches_without_stacking() -> None:
    first, first_spans = _configure_memory(service_name="first")
    with early_tracer.start_as_current_span("one"):
        pass
    second, second_spans = _configure_memory(service_name="second")
    try:
        assert first.closed and not second.closed
        assert telemetry.active_telemetry() is second
        assert isinstance(trace.get_tracer_provider(), SwitchTracerProvider)
        with early_tracer.start_as_current_span("two"):
            pass
        assert [s.name for s in first_spans.get_finished_spans()] == ["one"]
        assert [s.name for s in second_spans.get_finished_spans()] == ["two"]
        assert second_spans.get_finished_spans()[0].resource.attributes["service.name"] == "second"
    finally:
        second.shutdown()
    with early_tracer.start_as_current_span("three"):  # after shutdown: dropped
        pass
    assert len(second_spans.get_finished_spans()) == 1
    assert telemetry.active_telemetry() is None


def test_shutdown_is_idempotent_and_module_shutdown_works() -> None:
    tel, _spans = _configure_memory()
    telemetry.shutdown()
    assert tel.closed
    tel.shutdown()
    telemetry.shutdown()


def test_service_name_from_environment_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    with telemetry.configure(prometheus=False) as tel:
        assert tel.service_name == "from-env"
    with telemetry.configure(service_name="explicit", prometheus=False) as tel:
        assert tel.service_name == "explicit"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    with telemetry.configure(prometheus=False) as tel:
        assert tel.service_name == "sophia"


def test_sampler_from_environment_and_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    tel, spans = _configure_memory()
    with tel, telemetry.run_span("g", "r"):
        pass
    assert spans.get_finished_spans() == ()
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    tel, spans = _configure_memory(sampler=ALWAYS_OFF)
    with tel, telemetry.node_span("n"):
        pass
    assert spans.get_finished_spans() == ()
    tel, spans = _configure_memory()
    with tel, telemetry.node_span("n"):
        pass
    assert len(spans.get_finished_spans()) == 1


def test_endpoint_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _endpoint(None, "http/protobuf", "TRACES") is None
    assert _endpoint("http://h:4318", "http/protobuf", "TRACES") == "http://h:4318/v1/traces"
    assert _endpoint("http://h:4318/", "http/protobuf", "METRICS") == "http://h:4318/v1/metrics"
    assert _endpoint("http://h:4318/v1/traces", "http/protobuf", "TRACES") == (
        "http://h:4318/v1/traces"
    )
    assert _endpoint("http://h:4317", "grpc", "TRACES") == "http://h:4317"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")
    assert _endpoint(None, "http/protobuf", "TRACES") == "http://base:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://full:1/custom")
    assert _endpoint(None, "http/protobuf", "TRACES") == "http://full:1/custom"
    assert _endpoint("http://explicit:4318", "http/protobuf", "TRACES") == (
        "http://explicit:4318/v1/traces"
    )


def test_unsupported_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unsupported OTLP protocol 'http/json'"):
        telemetry.configure(otlp_protocol="http/json")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")
    with pytest.raises(ValueError, match="thrift"):
        telemetry.configure()


def test_console_exporter_writes_spans() -> None:
    out = io.StringIO()
    with telemetry.configure(console=out, prometheus=False), telemetry.node_span("printed"):
        pass
    assert json.loads(out.getvalue())["name"] == "printed"


def test_jaeger_url_only_with_otlp() -> None:
    with telemetry.configure(prometheus=False) as tel:
        assert tel.jaeger_url("ab" * 16) is None
    with telemetry.configure(otlp_endpoint="http://jaeger.local:4318", prometheus=False) as tel:
        assert tel.jaeger_url("ab" * 16) == f"http://jaeger.local:16686/trace/{'ab' * 16}"


def test_prometheus_text_has_monitor_and_custom_metrics(captured: Captured) -> None:
    assert telemetry.prometheus_text() == b""  # the fixture's configuration has no Prometheus
    with telemetry.configure(service_name="prom"):
        with telemetry.monitor("prom.op", kind="cache"):
            pass
        metrics.get_meter("sophia.tests").create_counter("sophia.tests.hits").add(3, {"tier": "l1"})
        text = telemetry.prometheus_text().decode()
    assert "sophia_operation_duration_milliseconds_count" in text
    assert 'sophia_operation="prom.op"' in text
    assert "sophia_tests_hits_total{" in text and 'tier="l1"' in text
    assert telemetry.prometheus_text() == b""  # shut down: nothing served
    assert telemetry.PROMETHEUS_CONTENT_TYPE.startswith("text/plain")


def test_metrics_survive_reconfiguration() -> None:
    """Instruments made under one configuration keep reporting to the next one."""
    counter = metrics.get_meter("sophia.tests.reconf").create_counter("sophia.tests.reconf")
    with telemetry.configure():
        counter.add(1)
    with telemetry.configure():
        counter.add(2)
        text = telemetry.prometheus_text().decode()
    line = next(ln for ln in text.splitlines() if ln.startswith("sophia_tests_reconf_total{"))
    assert line.endswith(" 2.0")  # the new reader counts from its own start
