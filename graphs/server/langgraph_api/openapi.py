"""OpenAPI paths of the LangGraph SDK API (`graphs.server.langgraph_api.routes`) and dashboard.

`graphs.server.openapi.openapi_document` merges them in, so ``/openapi.json`` describes
every route `sophia serve` answers. The SDK's own client is the reference for these
bodies; the schemas here say what this server reads and are open to the extra fields
the SDK sends. Errors answer ``{"detail": ...}``, as LangGraph's server does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_OBJECT: dict[str, Any] = {"type": "object"}
SDK_DETAIL: dict[str, Any] = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "What went wrong."}},
}
"""The SDK routes' error body (``components/schemas/Detail``)."""
_PAGE = {
    "limit": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 10},
    "offset": {"type": "integer", "minimum": 0, "default": 0},
}


def _run_body(graph_names: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["assistant_id"],
        "properties": {
            "assistant_id": {
                "anyOf": [{"enum": list(graph_names)}, {"type": "string"}],
                "description": "A graph name or its assistant id.",
            },
            "input": {"type": ["object", "null"], "description": "The graph's input."},
            "command": {"type": "object", "description": '{"resume": value} answers an interrupt.'},
            "stream_mode": {
                "oneOf": [
                    {"type": "string", "enum": ["values", "updates"]},
                    {"type": "array", "items": {"type": "string", "enum": ["values", "updates"]}},
                ]
            },
            "multitask_strategy": {
                "type": "string",
                "enum": ["reject", "enqueue", "interrupt", "rollback"],
            },
            "metadata": _OBJECT,
            "config": _OBJECT,
        },
    }


_SSE = {
    "description": "Server-sent events: `metadata` first, then one event per chunk named "
    "by its stream mode, `error` on failure.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}
_TAG = ["langgraph-sdk"]


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        404: "Unknown assistant, thread or run.",
        409: "The thread exists already, or is busy (multitask_strategy 'reject').",
        413: "The body is over 1 MiB.",
        422: "The body or the graph input is invalid.",
        503: "The checkpoint store is unavailable.",
    }
    return {str(c): _answer(meaning[c], {"$ref": "#/components/schemas/Detail"}) for c in codes}


def _op(
    method: str,
    operation_id: str,
    summary: str,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": _TAG,
        "responses": {**ok, **_errors(*errors)},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body}},
        }
    if params:
        operation["parameters"] = params
    return {method: operation}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def sdk_paths(graph_names: Sequence[str]) -> dict[str, Any]:
    """The paths of `sdk_routes`, keyed like an OpenAPI ``paths`` object
    (`graph_names`: the assistants a run can name)."""
    run_body = _run_body(graph_names)
    thread, run = _path_param("thread_id"), _path_param("run_id")
    run_errors = (404, 409, 413, 422, 503)
    one = {"200": _answer("The object.", _OBJECT)}
    many = {"200": _answer("The objects.", {"type": "array", "items": _OBJECT})}
    search = {"type": "object", "properties": {**_PAGE, "graph_id": {"type": "string"}}}
    stream_ok = {"200": _SSE}
    waited = {"200": _answer("The run's final values (or its error).", _OBJECT)}
    runs_on_thread = {
        **_op("post", "sdk_create_run", "Start a background run", one, run_errors,
              run_body, [thread]),
        **_op("get", "sdk_list_runs", "This process's runs of the thread", many,
              (404, 422, 503), None, [thread, *_query_page()]),
    }  # fmt: skip
    return {
        "/assistants/search": _op(
            "post", "sdk_search_assistants", "The graphs as assistants", many, (413, 422), search
        ),
        "/assistants/{assistant_id}": _op(
            "get",
            "sdk_get_assistant",
            "One assistant",
            one,
            (404,),
            None,
            [_path_param("assistant_id")],
        ),
        "/threads": _op(
            "post",
            "sdk_create_thread",
            "Create a thread",
            one,
            (409, 413, 422, 503),
            {
                "type": "object",
                "properties": {
                    "thread_id": {"type": "string", "format": "uuid"},
                    "metadata": _OBJECT,
                    "if_exists": {"type": "string", "enum": ["raise", "do_nothing"]},
                },
            },
        ),
        "/threads/search": _op(
            "post",
            "sdk_search_threads",
            "Threads, most recently updated first",
            many,
            (413, 422, 503),
            {"type": "object", "properties": _PAGE},
        ),
        "/threads/{thread_id}": _op(
            "get", "sdk_get_thread", "One thread", one, (404, 503), None, [thread]
        ),
        "/threads/{thread_id}/state": _op(
            "get",
            "sdk_thread_state",
            "The thread's latest checkpoint",
            one,
            (404, 503),
            None,
            [thread],
        ),
        "/threads/{thread_id}/history": _op(
            "post",
            "sdk_thread_history",
            "Checkpoints, newest first",
            many,
            (404, 413, 422, 503),
            {"type": "object", "properties": {"limit": _PAGE["limit"]}},
            [thread],
        ),
        "/runs/wait": _op(
            "post",
            "sdk_wait_stateless",
            "Run without a thread; wait",
            waited,
            run_errors,
            run_body,
        ),
        "/runs/stream": _op(
            "post",
            "sdk_stream_stateless",
            "Run without a thread; stream",
            stream_ok,
            run_errors,
            run_body,
        ),
        "/threads/{thread_id}/runs": runs_on_thread,
        "/threads/{thread_id}/runs/wait": _op(
            "post",
            "sdk_wait_run",
            "Run on the thread; wait",
            waited,
            run_errors,
            run_body,
            [thread],
        ),
        "/threads/{thread_id}/runs/stream": _op(
            "post",
            "sdk_stream_run",
            "Run on the thread; stream",
            stream_ok,
            run_errors,
            run_body,
            [thread],
        ),
        "/threads/{thread_id}/runs/{run_id}": _op(
            "get", "sdk_get_run", "One run", one, (404,), None, [thread, run]
        ),
        "/threads/{thread_id}/runs/{run_id}/join": _op(
            "get",
            "sdk_join_run",
            "Wait for the run; its final values",
            waited,
            (404,),
            None,
            [thread, run],
        ),
        "/threads/{thread_id}/runs/{run_id}/cancel": _op(
            "post",
            "sdk_cancel_run",
            "Cancel the run (wait=1: until it stopped)",
            {
                "200": {"description": "Cancelled and stopped (wait=1)."},
                "204": {"description": "Cancellation requested."},
            },
            (404,),
            None,
            [
                thread,
                run,
                {
                    "name": "wait",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                },
            ],
        ),
    }


def _query_page() -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in _PAGE.items()
    ]


def dashboard_paths() -> dict[str, Any]:
    """The paths of `graphs.server.dashboard.routes.dashboard_routes`."""
    tag = ["dashboard"]
    error = {"$ref": "#/components/schemas/Error"}
    return {
        "/dashboard": {"get": {
            "operationId": "dashboard", "summary": "The live dashboard page", "tags": tag,
            "responses": {"200": {"description": "HTML.",
                                  "content": {"text/html": {"schema": {"type": "string"}}}}},
        }},
        "/dashboard/data": {"get": {
            "operationId": "dashboard_data", "summary": "What the page polls", "tags": tag,
            "responses": {"200": _answer("Series, percentiles and resource state.", _OBJECT),
                          "503": _answer("The engine is not open yet.", error)},
        }},
        "/dashboard/static/{name}": {"get": {
            "operationId": "dashboard_static", "summary": "The page's script and stylesheet",
            "tags": tag, "parameters": [_path_param("name")],
            "responses": {
                "200": {"description": "The file.", "content": {
                    "text/javascript": {"schema": {"type": "string"}},
                    "text/css": {"schema": {"type": "string"}}}},
                "404": _answer("Not one of the page's files.", error),
            },
        }},
        "/dashboard/traces/{trace_id}": {"get": {
            "operationId": "dashboard_trace", "summary": "One trace's spans", "tags": tag,
            "parameters": [_path_param("trace_id")],
            "responses": {"200": _answer("The trace id and its spans.", _OBJECT),
                          "400": _answer("Not a trace id (32 hex digits).", error),
                          "404": _answer("No such trace in the local span file.", error)},
        }},
    }  # fmt: skip
