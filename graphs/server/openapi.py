"""The OpenAPI 3.1 document of the HTTP service, built from the registered graphs.

Each graph gets its own concrete paths (``/graphs/deal_review/invoke`` ...) whose
request body is that graph's input JSON Schema, so clients and fuzzers see exactly what
each graph accepts. The pydantic schemas' ``$defs`` are hoisted into
``components/schemas``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphs.engine.registry import GraphSpec
from graphs.server.langgraph_api.openapi import SDK_DETAIL, dashboard_paths, sdk_paths

_REF = "#/components/schemas/{model}"

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A machine-readable error code."},
        "message": {"type": "string", "description": "What went wrong, for a human."},
        "run_id": {"type": "string", "description": "The run, when one was started."},
        "known": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Registered graph names (unknown_graph only).",
        },
        "problems": {
            "type": "array",
            "items": {"type": "string"},
            "description": "One entry per bad field (invalid_input only).",
        },
    },
}
_RUN_RESULT = {
    "type": "object",
    "required": ["run_id", "trace_id", "errors", "status"],
    "description": "The graph's output plus the run's identity and outcome.",
    "properties": {
        "run_id": {"type": "string"},
        "trace_id": {
            "type": ["string", "null"],
            "description": "32 hex digits; null when tracing is off.",
        },
        "status": {"type": "string", "enum": ["complete", "partial", "interrupted"]},
        "errors": {
            "type": "array",
            "items": {"type": "object"},
            "description": "Branches that failed; empty when every branch succeeded.",
        },
    },
    "additionalProperties": True,
}
_GRAPH_LIST = {
    "type": "object",
    "required": ["graphs"],
    "properties": {
        "graphs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "description", "input_schema"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "input_schema": {"type": "object"},
                },
            },
        }
    },
}
_SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["update", "end", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "JSON: an update {node, data, run_id, trace_id}, the result "
            "(end) or an Error (error).",
        },
    },
}
_READY = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "degraded", "unready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "object"}},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": _REF.format(model="Error")}, description)


def _run_errors() -> dict[str, Any]:
    return {
        "400": _error("The body is not valid JSON (or too large: 413)."),
        "413": _error("The body is larger than the server accepts."),
        "422": _error("The input does not match the graph's input schema."),
        "500": _error("Internal failure; the body names the run id, the log has the details."),
        "503": _error("Overloaded or a dependency is unavailable; see Retry-After."),
        "504": _error("The run did not finish within the request timeout."),
    }


def _graph_paths(spec: GraphSpec, components: dict[str, Any]) -> dict[str, Any]:
    schema = spec.input_model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    input_name = spec.input_model.__name__
    if input_name in components:  # two graphs with same-named input models
        input_name = f"{spec.name}_{input_name}"
    components[input_name] = schema
    body = {
        "required": False,
        "description": "The graph's input; an empty body means {}.",
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=input_name)}}},
    }
    invoke = {
        "post": {
            "operationId": f"invoke_{spec.name}",
            "summary": f"Run {spec.name} to completion",
            "description": spec.description,
            "tags": ["graphs"],
            "parameters": [_traceparent()],
            "requestBody": body,
            "responses": {
                "200": _json({"$ref": _REF.format(model="RunResult")}, "The result."),
                **_run_errors(),
            },
        }
    }
    stream = {
        "post": {
            "operationId": f"stream_{spec.name}",
            "summary": f"Run {spec.name}, streaming node updates as server-sent events",
            "description": "Events: `update` (data: {node, data, run_id, trace_id}) per node as "
            "it completes, then `end` (data: the result) or `error` (data: an Error).",
            "tags": ["graphs"],
            "parameters": [_traceparent()],
            "requestBody": body,
            "responses": {
                "200": {
                    "description": "An event stream; the schema describes one event.",
                    "content": {"text/event-stream": {"schema": _SSE_EVENT}},
                },
                **_run_errors(),
            },
        }
    }
    return {f"/graphs/{spec.name}/invoke": invoke, f"/graphs/{spec.name}/stream": stream}


def _traceparent() -> dict[str, Any]:
    return {
        "name": "traceparent",
        "in": "header",
        "required": False,
        "description": "W3C trace context of the caller; the run's trace continues it.",
        "schema": {"type": "string"},
    }


def _get(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary, "responses": responses}}


def openapi_document(
    specs: Iterable[GraphSpec], *, title: str = "Sophia workflow engine", version: str = "0.1.0"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, with each graph's input as its request body."""
    components: dict[str, Any] = {
        "Error": _ERROR,
        "RunResult": _RUN_RESULT,
        "GraphList": _GRAPH_LIST,
        "Readiness": _READY,
        "Detail": SDK_DETAIL,
    }
    paths: dict[str, Any] = {
        "/graphs": _get(
            "list_graphs",
            "Registered graphs with their input schemas",
            {"200": _json({"$ref": _REF.format(model="GraphList")}, "The graphs.")},
        ),
    }
    ordered = sorted(specs, key=lambda s: s.name)
    for spec in ordered:
        paths.update(_graph_paths(spec, components))
    paths.update(
        {
            "/healthz": _get(
                "healthz",
                "Liveness (no I/O)",
                {
                    "200": _json(
                        {"type": "object", "properties": {"status": {"const": "ok"}}},
                        "The process is alive.",
                    )
                },
            ),
            "/readyz": _get(
                "readyz",
                "Readiness: warehouse, Redis and memory store checked",
                {
                    "200": _json(
                        {"$ref": _REF.format(model="Readiness")}, "Ready (maybe degraded)."
                    ),
                    "503": _json(
                        {"$ref": _REF.format(model="Readiness")}, "A required check failed."
                    ),
                },
            ),
            "/metrics": _get(
                "metrics",
                "Prometheus metrics",
                {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            ),
            "/stats": _get(
                "stats",
                "Pool, cache, breaker, monitor and admission figures",
                {"200": _json({"type": "object"}, "The engine's figures.")},
            ),
            "/openapi.json": _get(
                "openapi",
                "This document",
                {"200": _json({"type": "object"}, "The OpenAPI document.")},
            ),
            **dashboard_paths(),
            **sdk_paths([spec.name for spec in ordered]),
        }
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Run Sophia workflows over HTTP: invoke, stream, inspect.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
