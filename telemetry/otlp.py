"""Where OTLP export goes: the standard ``OTEL_*`` variables, resolved, and the exporters.

Explicit arguments win over ``OTEL_EXPORTER_OTLP_{TRACES,METRICS}_*`` variables, which win
over ``OTEL_EXPORTER_OTLP_*``; no endpoint anywhere means OTLP export is off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter

DEFAULT_SERVICE_NAME = "sophia"
PROTOCOLS = ("http/protobuf", "grpc")


def env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def protocol_of(explicit: str | None, signal: str) -> str:
    protocol = explicit or env(
        f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = (protocol or "http/protobuf").lower()
    if protocol not in PROTOCOLS:
        known = ", ".join(PROTOCOLS)
        raise ValueError(f"unsupported OTLP protocol {protocol!r}; use one of {known}")
    return protocol


def endpoint_of(explicit: str | None, protocol: str, signal: str) -> str | None:
    """The URL to give the exporter for ``signal`` (TRACES or METRICS), or None: OTLP off."""
    path = f"/v1/{signal.lower()}"
    if explicit is None:
        full = env(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        if full:
            return full
        explicit = env("OTEL_EXPORTER_OTLP_ENDPOINT")
        if explicit is None:
            return None
    base = explicit.rstrip("/")
    if protocol == "grpc" or base.endswith(path):
        return base
    return base + path


def resource_of(service_name: str | None, attributes: Mapping[str, Any] | None) -> Resource:
    attrs: dict[str, Any] = dict(attributes or {})
    if service_name:
        attrs["service.name"] = service_name
    resource = Resource.create(attrs)  # merges OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    return resource


def span_exporter(protocol: str, endpoint: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(endpoint=endpoint)


def metric_reader(protocol: str, endpoint: str) -> MetricReader:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetrics,
        )

        return PeriodicExportingMetricReader(GrpcMetrics(endpoint=endpoint))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetrics,
    )

    return PeriodicExportingMetricReader(HttpMetrics(endpoint=endpoint))


