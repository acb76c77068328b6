"""The graph routes: ``GET /graphs``, ``POST /graphs/{name}/invoke`` and ``.../stream``.

A request is checked before it takes a run slot (404 unknown graph, 400 bad JSON, 413
too large, 422 invalid input); the input is validated once (`Engine.validate`) and the
`RunInput` handed to the engine. A W3C ``traceparent`` header is continued into the
run's trace. Errors answer `graphs.server.errors.HttpError` bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.propagate import extract
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.engine.engine import Engine
from graphs.engine.errors import GraphError
from graphs.engine.run_input import RunInput
from graphs.server import models
from graphs.server.encoding import JSON, EncodingError
from graphs.server.errors import (
    HttpError,
    graph_error,
    overloaded,
    run_failure,
    run_timeout,
)
from graphs.server.limits import OverloadedError
from graphs.server.openapi import Answer, ApiRoute, Operation
from graphs.server.sse import event_stream

MAX_BODY_BYTES = 1024 * 1024
TRACEPARENT = {"traceparent": "W3C trace context of the caller; the run's trace continues it."}


def _error(description: str) -> Answer:
    return Answer(description, models.ErrorBody)


RUN_ERRORS: dict[int, Answer] = {
    400: _error("The body is not valid JSON."),
    404: _error("No graph of that name; the body lists the known ones."),
    413: _error("The body is larger than the server accepts."),
    422: _error("The input does not match the graph's input schema."),
    500: _error("Internal failure; the body names the run id, the log has the details."),
    503: Answer(
        "Overloaded or a dependency is unavailable; see Retry-After.",
        models.ErrorBody,
        headers=("Retry-After",),
    ),
    504: _error("The run did not finish within the request timeout."),
}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _read_body(request: Request) -> Any:
    """The JSON body (``{}`` when empty), bounded in size: HttpError 413 or 400."""
    too_large = HttpError(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc


async def _prepare(request: Request) -> tuple[str, RunInput]:
    """(graph name, validated input), or HttpError 404, 400/413, 422 before any slot."""
    name = request.path_params["name"]
    engine = _engine(request)
    try:
        engine.spec(name)
        payload = await _read_body(request)
        return name, engine.validate(name, payload)
    except GraphError as exc:
        raise graph_error(exc) from exc


@contextlib.contextmanager
def _caller_trace(headers: dict[str, str]) -> Iterator[None]:
    """Make the caller's W3C trace context current, so the run's span can continue it."""
    token = otel_context.attach(extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


async def list_graphs(request: Request) -> Response:
    """``GET /graphs``: names, descriptions and input JSON Schemas."""
    engine = _engine(request)
    graphs = [
        models.GraphInfo(name=spec.name, description=spec.description,
                         input_schema=spec.input_schema())
        for spec in map(engine.spec, engine.graph_names())
    ]  # fmt: skip
    return JSON(models.GraphList(graphs=graphs))


async def invoke(request: Request) -> Response:
    """``POST /graphs/{name}/invoke``: run to completion, answer the result."""
    try:
        name, run_input = await _prepare(request)
    except HttpError as exc:
        return exc.response()
    state = request.app.state
    run_id = uuid.uuid4().hex
    timeout_s = state.config.request_timeout_s
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            async with state.limiter.slot():
                with state.in_flight.track(), _caller_trace(dict(request.headers)):
                    result = await _engine(request).invoke(name, run_input, run_id=run_id)
    except OverloadedError as exc:
        return overloaded(exc).response()
    except TimeoutError as exc:
        failure = run_timeout(run_id, timeout_s) if deadline.expired() else None
        return (failure or run_failure(exc, run_id, name)).response()
    except Exception as exc:
        return run_failure(exc, run_id, name).response()
    try:
        return JSON(result)
    except EncodingError as exc:  # a value in the result has no JSON form: a bug, a 500
        return run_failure(exc, run_id, name).response()


async def stream(request: Request) -> Response:
    """``POST /graphs/{name}/stream``: server-sent ``update`` events, then ``end``.

    The run slot is taken before the response starts and given back when it ends,
    however it ends; a client that goes away stops its run.
    """
    try:
        name, run_input = await _prepare(request)
    except HttpError as exc:
        return exc.response()
    state = request.app.state
    try:
        await state.limiter.acquire()
    except OverloadedError as exc:
        return overloaded(exc).response()
    run_id = uuid.uuid4().hex
    headers = dict(request.headers)
    engine = _engine(request)

    async def events() -> AsyncIterator[tuple[str, Any]]:
        # The body runs in the response's own task: make the caller's trace current here.
        timeout_s = state.config.request_timeout_s
        with _caller_trace(headers), state.in_flight.track():
            try:
                async with asyncio.timeout(timeout_s) as deadline:
                    updates = engine.stream(name, run_input, run_id=run_id)
                    async with contextlib.aclosing(updates):  # type: ignore[type-var]
                        async for event in updates:
                            if event["event"] == "end":
                                yield "end", event["result"]
                            else:
                                yield event["event"], {
                                    k: v for k, v in event.items() if k != "event"
                                }
            except Exception as exc:
                expired = isinstance(exc, TimeoutError) and deadline.expired()
                failure = run_timeout(run_id, timeout_s) if expired else None
                yield "error", (failure or run_failure(exc, run_id, name)).body()

    return event_stream(events(), on_close=state.limiter.release,
                        grace_s=state.config.request_timeout_s)  # fmt: skip


def graph_routes() -> list[BaseRoute]:
    """The graph routes (the app keeps the open engine, limiter, in-flight runs and
    config in ``app.state``)."""
    return [
        ApiRoute("/graphs", list_graphs, method="GET", operation=Operation(
            "list_graphs", "Registered graphs with their input schemas", "graphs",
            {200: Answer("The graphs.", models.GraphList)},
        )),
        ApiRoute("/graphs/{name}/invoke", invoke, method="POST", operation=Operation(
            "invoke_{graph}", "Run {graph} to completion", "graphs",
            {200: Answer("The result.", models.RunResult), **RUN_ERRORS},
            headers=TRACEPARENT, per_graph=True,
            body_description="The graph's input; an empty body means {}.",
        )),
        ApiRoute("/graphs/{name}/stream", stream, method="POST", operation=Operation(
            "stream_{graph}", "Run {graph}, streaming node updates as server-sent events",
            "graphs",
            {200: Answer("An event stream; the schema describes one event.",
                         models.StreamEvent, media_type="text/event-stream"),
             **RUN_ERRORS},
            headers=TRACEPARENT, per_graph=True,
            body_description="The graph's input; an empty body means {}.",
        )),
    ]  # fmt: skip
