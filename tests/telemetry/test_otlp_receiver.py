"""Spans reach an OTLP receiver the test runs on loopback, over HTTP/protobuf and gRPC."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import telemetry


class Received:
    """Spans decoded from the requests a receiver got: (service name, span) pairs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: list[str] = []
        self.spans: list[tuple[str, Any]] = []
        self.metric_names: set[str] = set()

    def add_metrics(self, request: ExportMetricsServiceRequest) -> None:
        with self.lock:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    self.metric_names.update(m.name for m in sm.metrics)

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for rs in request.resource_spans:
                service = next(
                    (
                        a.value.string_value
                        for a in rs.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for ss in rs.scope_spans:
                    self.spans.extend((service, s) for s in ss.spans)


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with received.lock:
                received.paths.append(self.path)
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                received.add(request)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            elif self.path == "/v1/metrics":
                metrics_request = ExportMetricsServiceRequest()
                metrics_request.ParseFromString(body)
                received.add_metrics(metrics_request)
                reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.add(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.add_metrics(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None).wait(5)


def _run_graph_like_spans() -> str:
    with telemetry.run_span("deal_review", "run-otlp"), telemetry.monitor("otlp.run"):
        trace_id = telemetry.current_trace_id()
        for name in ("hubspot", "gong"):
            with telemetry.node_span(name, superstep=1):
                pass
    assert trace_id is not None
    return trace_id


def _check(received: Received, trace_id: str, service: str) -> None:
    mine = [(svc, s) for svc, s in received.spans if s.trace_id.hex() == trace_id]
    assert {s.name for _, s in mine} == {"deal_review", "hubspot", "gong"}
    assert {svc for svc, _ in mine} == {service}
    root = next(s for _, s in mine if s.name == "deal_review")
    assert root.parent_span_id == b""
    run_ids = [a.value.string_value for a in root.attributes if a.key == "sophia.run_id"]
    assert run_ids == ["run-otlp"]
    for _, s in mine:
        if s.name != "deal_review":
            assert s.parent_span_id == root.span_id


def test_spans_arrive_over_otlp_http(http_receiver: tuple[str, Received]) -> None:
    base, received = http_receiver
    with telemetry.configure(
        service_name="sophia-otlp-http", otlp_endpoint=base, prometheus=False
    ) as tel:
        assert tel.otlp_endpoint == f"{base}/v1/traces" and tel.otlp_protocol == "http/protobuf"
        trace_id = _run_graph_like_spans()
        assert tel.force_flush(10_000)
    _check(received, trace_id, "sophia-otlp-http")
    assert "/v1/traces" in received.paths
    assert "sophia.operation.duration" in received.metric_names


def test_spans_arrive_over_otlp_http_from_environment(
    http_receiver: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, received = http_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "sophia-from-env")
    with telemetry.configure(prometheus=False):
        trace_id = _run_graph_like_spans()
    # leaving the block shut the configuration down, which flushed the batch processor
    _check(received, trace_id, "sophia-from-env")


def test_spans_arrive_over_otlp_grpc(grpc_receiver: tuple[str, Received]) -> None:
    endpoint, received = grpc_receiver
    with telemetry.configure(
        service_name="sophia-otlp-grpc",
        otlp_endpoint=endpoint,
        otlp_protocol="grpc",
        prometheus=False,
    ) as tel:
        assert tel.otlp_endpoint == endpoint and tel.otlp_protocol == "grpc"
        trace_id = _run_graph_like_spans()
        assert tel.force_flush(10_000)
    _check(received, trace_id, "sophia-otlp-grpc")
    assert "sophia.operation.duration" in received.metric_names


def test_unreachable_collector_costs_one_warning_and_a_bounded_exit(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on the endpoint: shutdown gives up after its deadline, the local
    span file is still complete, and the exporters' retries make one warning, not a dozen."""
    import json
    import logging
    import socket

    from opentelemetry import trace

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caplog.set_level(logging.INFO)
    tel = telemetry.configure(
        otlp_endpoint=f"http://127.0.0.1:{port}", prometheus=False, file_path=tmp_path / "t.jsonl"
    )
    tracer = trace.get_tracer("tests.unreachable")
    for i in range(5):
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    flushed = tel.shutdown(timeout_s=0.2)
    assert flushed is False  # the exporter was still retrying: abandoned, not waited for
    names = [json.loads(line)["name"] for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert sorted(names) == [f"span-{i}" for i in range(5)]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert f"127.0.0.1:{port}" in warnings[0].getMessage()
    assert warnings[0].name == "telemetry.setup"


def test_shutdown_stops_waiting_at_the_first_refused_export(tmp_path: Any) -> None:
    """A refused connection is known at once: shutdown does not spend its whole timeout on
    the exporter's retries (they take the exporter's own 10 s timeout), and says so."""
    import socket
    import time

    from opentelemetry import trace

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tel = telemetry.configure(otlp_endpoint=f"http://127.0.0.1:{port}", prometheus=False)
    with trace.get_tracer("tests.refused").start_as_current_span("one"):
        pass
    started = time.monotonic()
    assert tel.shutdown(timeout_s=120) is False
    assert time.monotonic() - started < 9  # retrying until the timeout would take >= 10 s
