"""``configure()``: the OpenTelemetry SDK for traces and metrics, and its owner ``Telemetry``.

Configuration comes from the standard ``OTEL_*`` environment, overridden by explicit
arguments: ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_EXPORTER_OTLP_ENDPOINT`` (base URL) or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``..._METRICS_ENDPOINT`` (full URLs), ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``,
the default, or ``grpc``), ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``.
OTLP export is on when an endpoint is configured, off otherwise.

Calling ``configure()`` twice: OpenTelemetry refuses to replace a global provider, so

* traces: the global tracer provider is a :class:`telemetry.switch.SwitchTracerProvider`
  installed once; each ``configure()`` builds a fresh SDK ``TracerProvider`` (resource,
  sampler, exporters) and switches the global one to it. The previous ``Telemetry`` is
  shut down first (its spans flushed), so providers never stack.
* metrics: one SDK ``MeterProvider`` is installed globally on the first ``configure()``;
  each ``Telemetry`` attaches its metric readers (Prometheus, OTLP, extra ones) to it and
  removes them on shutdown. The metrics *resource* (service name) is therefore the one
  of the first ``configure()`` in the process; traces always use the latest.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.sampling import Sampler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from telemetry.file_exporter import JsonLinesSpanExporter
from telemetry.otlp import (
    endpoint_of,
    metric_reader,
    protocol_of,
    resource_of,
    span_exporter,
)
from telemetry.sdk_logs import ExporterLogs, quiet_final_collect
from telemetry.switch import SwitchTracerProvider

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "Telemetry",
    "active_telemetry",
    "configure",
    "prometheus_text",
    "shutdown",
]

logger = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type a ``/metrics`` response carrying :func:`prometheus_text` should use."""


SHUTDOWN_TIMEOUT_S = 1.0
"""How long `Telemetry.shutdown` waits for exporters before dropping what is left."""

_lock = threading.RLock()
_switch: SwitchTracerProvider | None = None
_meter_provider: MeterProvider | None = None
_active: Telemetry | None = None
_atexit_registered = False


class Telemetry:
    """The owner of one configuration: its tracer provider, exporters and metric readers.

    ``shutdown()`` flushes and closes everything it owns (idempotent); it is also called
    on leaving ``with configure(...) as telemetry:``, and at interpreter exit for the
    active one. After shutdown, spans are dropped until the next ``configure()``.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        metric_readers: Sequence[MetricReader],
        prometheus_registry: CollectorRegistry | None,
        trace_file: Path | None,
        otlp_endpoint: str | None,
        otlp_protocol: str | None,
        local_processors: Sequence[SpanProcessor] = (),
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.trace_file = trace_file
        self.otlp_endpoint = otlp_endpoint
        self.otlp_protocol = otlp_protocol
        self._metric_readers = list(metric_readers)
        self._prometheus_registry = prometheus_registry
        self._closed = False
        self._local_processors = list(local_processors)
        self._exporter_logs = ExporterLogs(otlp_endpoint)
        if otlp_endpoint:
            self._exporter_logs.attach()

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` ran."""
        return self._closed

    @property
    def service_name(self) -> str:
        """The ``service.name`` of the trace resource."""
        return str(self.tracer_provider.resource.attributes.get("service.name", ""))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything buffered now (spans and metrics); True if all exporters succeeded."""
        if self._closed:
            return True
        ok = self.tracer_provider.force_flush(timeout_millis)
        for reader in self._metric_readers:
            ok = reader.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Flush and close this configuration's exporters and readers; safe to call twice.

        Waits at most `timeout_s` (default 1 s) for the exporters, and no longer than the
        first error an exporter reports: a collector that does not answer must not hold a
        command's exit. What is still unexported then is
        dropped, with one warning line naming the endpoint. Returns True when everything
        was flushed in time.
        """
        global _active
        with _lock:
            if self._closed:
                return True
            self._closed = True
            if _switch is not None:
                _switch.deactivate(self.tracer_provider)
            if _active is self:
                _active = None
        for processor in self._local_processors:  # the local span file: always written out
            processor.force_flush()
        closer = threading.Thread(target=self._close, name="sophia-telemetry-shutdown", daemon=True)
        errors_before = self._exporter_logs.errors
        closer.start()
        # Stop waiting as soon as an exporter fails during this flush (a refused connection
        # is known at once; its retries would only use up the timeout).
        deadline = time.monotonic() + timeout_s
        while closer.is_alive() and self._exporter_logs.errors == errors_before:
            closer.join(min(0.02, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                break
        if not closer.is_alive():
            self._exporter_logs.detach()  # else it keeps quieting the abandoned exporters
        elif not self._exporter_logs.reported:
            self._exporter_logs.reported = True  # the exporters' later lines are dropped
            logger.warning(
                "the OTLP endpoint %s did not take the last spans and metrics within %gs; "
                "they are dropped",
                self.otlp_endpoint or "(none)",
                timeout_s,
            )
        return not closer.is_alive()

    def _close(self) -> None:
        self.tracer_provider.shutdown()  # flushes the batch processors first (file first)
        for reader in self._metric_readers:
            try:
                reader.force_flush(5_000)
            except Exception as exc:  # an unreachable collector must not break shutdown
                logger.warning("flushing metric reader %s failed: %s", type(reader).__name__, exc)
            with quiet_final_collect():
                self.meter_provider.remove_metric_reader(reader)  # also shuts the reader down

    def prometheus_text(self) -> bytes:
        """The current metrics in the Prometheus text format (empty if Prometheus is off)."""
        if self._prometheus_registry is None or self._closed:
            return b""
        return generate_latest(self._prometheus_registry)

    def jaeger_url(self, trace_id: str, ui_port: int = 16686) -> str | None:
        """A link to the trace in Jaeger's UI on the OTLP endpoint's host, if OTLP is on."""
        if not self.otlp_endpoint:
            return None
        host = urlsplit(self.otlp_endpoint).hostname or "localhost"
        return f"http://{host}:{ui_port}/trace/{trace_id}"

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


def _install_globals(resource: Resource) -> tuple[SwitchTracerProvider, MeterProvider]:
    global _switch, _meter_provider, _atexit_registered
    if _switch is None:
        _switch = SwitchTracerProvider()
        trace.set_tracer_provider(_switch)
        if trace.get_tracer_provider() is not _switch:
            logger.warning(
                "another global TracerProvider was installed before telemetry.configure(); "
                "spans made through the global API go there, not to Sophia's exporters"
            )
    if _meter_provider is None:
        # Exemplars cost a reservoir update per measurement on the hot path; Prometheus
        # text does not show them. OTEL_METRICS_EXEMPLAR_FILTER turns them back on.
        exemplars = (
            None if os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
        )
        _meter_provider = MeterProvider(
            resource=resource, shutdown_on_exit=False, exemplar_filter=exemplars
        )
        metrics.set_meter_provider(_meter_provider)
        if metrics.get_meter_provider() is not _meter_provider:
            logger.warning(
                "another global MeterProvider was installed before telemetry.configure(); "
                "metrics recorded through the global API go there"
            )
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True
    return _switch, _meter_provider


def configure(
    *,
    service_name: str | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    file_path: Path | None = None,
    file_max_bytes: int = 20 * 1024 * 1024,
    console: bool | TextIO = False,
    sampler: Sampler | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    prometheus: bool = True,
    metric_readers: Sequence[MetricReader] = (),
    span_processors_for_tests: Sequence[SpanProcessor] = (),
) -> Telemetry:
    """Install tracing and metrics for this process and return their owner.

    * ``service_name``: overrides ``OTEL_SERVICE_NAME`` (default ``sophia``).
    * ``otlp_endpoint`` / ``otlp_protocol``: a base URL like ``OTEL_EXPORTER_OTLP_ENDPOINT``
      (``http://localhost:4318`` for ``http/protobuf``, ``http://localhost:4317`` for
      ``grpc``); spans go through a BatchSpanProcessor, metrics through a periodic reader.
    * ``file_path``: append spans as JSON lines there (rotated at ``file_max_bytes``);
      the engine passes ``telemetry.trace_file_path(settings.data_dir)``.
    * ``console``: print spans to stderr (or to the given stream).
    * ``sampler``: overrides ``OTEL_TRACES_SAMPLER`` (default: parent-based always-on).
    * ``prometheus``: keep a Prometheus reader for :func:`prometheus_text`.
    * ``metric_readers`` / ``span_processors_for_tests``: extra readers and processors,
      e.g. an ``InMemoryMetricReader`` or a ``SimpleSpanProcessor(InMemorySpanExporter())``.

    A previous configuration still active is shut down first (see the module docstring).
    Raises ValueError on an unsupported protocol.
    """
    global _active
    trace_protocol = protocol_of(otlp_protocol, "TRACES")
    trace_endpoint = endpoint_of(otlp_endpoint, trace_protocol, "TRACES")
    metric_protocol = protocol_of(otlp_protocol, "METRICS")
    metric_endpoint = endpoint_of(otlp_endpoint, metric_protocol, "METRICS")
    resource = resource_of(service_name, resource_attributes)

    with _lock:
        if _active is not None:
            _active.shutdown()
        switch, meter_provider = _install_globals(resource)

        provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
        local: list[SpanProcessor] = []
        if file_path is not None:
            local.append(
                BatchSpanProcessor(JsonLinesSpanExporter(Path(file_path), max_bytes=file_max_bytes))
            )
            provider.add_span_processor(local[-1])
        if trace_endpoint is not None:
            exporter = span_exporter(trace_protocol, trace_endpoint)
            provider.add_span_processor(BatchSpanProcessor(exporter))
        if console:
            out = sys.stderr if console is True else console
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
        for processor in span_processors_for_tests:
            provider.add_span_processor(processor)

        readers: list[MetricReader] = list(metric_readers)
        registry: CollectorRegistry | None = None
        if prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader

            registry = CollectorRegistry(auto_describe=True)
            readers.append(PrometheusMetricReader(registry=registry))
        if metric_endpoint is not None:
            readers.append(metric_reader(metric_protocol, metric_endpoint))
        for reader in readers:
            meter_provider.add_metric_reader(reader)

        telemetry = Telemetry(
            tracer_provider=provider,
            meter_provider=meter_provider,
            metric_readers=readers,
            prometheus_registry=registry,
            trace_file=Path(file_path) if file_path is not None else None,
            otlp_endpoint=trace_endpoint,
            otlp_protocol=trace_protocol if trace_endpoint else None,
            local_processors=local,
        )
        switch.activate(provider)
        _active = telemetry
    return telemetry


def active_telemetry() -> Telemetry | None:
    """The configuration spans go to now, or None when tracing is off."""
    return _active


def shutdown() -> None:
    """Shut down the active configuration, if any (flushes spans and metrics)."""
    with _lock:
        current = _active
    if current is not None:
        current.shutdown()


def prometheus_text() -> bytes:
    """The active configuration's metrics in Prometheus text format (b"" when none)."""
    current = _active
    return current.prometheus_text() if current is not None else b""
