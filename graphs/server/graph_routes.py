"""The graph routes: ``GET /graphs``, ``POST /graphs/{name}/invoke`` and ``.../stream``.

A request is checked before it takes a run slot (404 unknown graph, 403 a graph the
caller's key does not cover, 400 bad JSON, 413 too large, 415 not JSON, 408 too slow,
422 invalid input); the input is validated once (`Engine.validate`) and the `RunInput`
handed to the engine. The run is then admitted (`graphs.server.limits.Admission`: 429
over the key's quota, 503 when the queue is full). A W3C ``traceparent`` header is
continued into the run's trace. Errors answer `graphs.server.errors.HttpError` bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from graphs.server.body import BODY_TIMEOUT_S, BodyError, read_json
from graphs.server.caller import caller_of
from graphs.server.encoding import JSON, EncodingError
from graphs.server.errors import (
    HttpError,
    graph_error,
    over_quota,
    overloaded,
    run_failure,
    run_timeout,
)
from graphs.server.graph_runs import start_run
from graphs.server.limits import Admission, OverloadedError, Ticket
from graphs.server.openapi import Answer, ApiRoute, Operation
from graphs.server.quotas import QuotaExceededError
from graphs.server.sse import event_stream

TRACEPARENT = {"traceparent": "W3C trace context of the caller; the run's trace continues it."}


def _error(description: str) -> Answer:
    return Answer(description, models.ErrorBody)


RUN_ERRORS: dict[int, Answer] = {
    400: _error("The body is not valid JSON (or nests too deep, or holds a lone surrogate "
                "or a number beyond a double)."),
    404: _error("No graph of that name; the body lists the known ones."),
    408: _error("The body did not arrive in time."),
    413: _error("The body is larger than the server accepts."),
    415: _error("The body is not application/json."),
    422: _error("The input does not match the graph's input schema."),
    429: Answer("Over the key's quota; see Retry-After.", models.ErrorBody,
                headers=("Retry-After",)),
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


async def _prepare(request: Request) -> tuple[str, RunInput]:
    """(graph name, validated input), or HttpError 404/403, 400/408/413/415, 422 before
    any slot."""
    name = request.path_params["name"]
    engine = _engine(request)
    try:
        engine.spec(name)
        if not caller_of(request).may_use(name):
            raise HttpError(403, "forbidden", f"this key may not use graph {name}")
        security = getattr(request.app.state, "security", None)
        timeout_s = security.body_timeout_s if security is not None else BODY_TIMEOUT_S
        payload = await read_json(request, timeout_s=timeout_s)
        return name, engine.validate(name, {} if payload is None else payload)
    except GraphError as exc:
        raise graph_error(exc) from exc
    except BodyError as exc:
        raise HttpError(exc.status, exc.code, exc.message) from exc


def _admit(request: Request) -> Ticket:
    """The run's admission ticket; HttpError 429 (quota) or 503 (queue full)."""
    admission: Admission = request.app.state.admission
    try:
        return admission.reserve(caller_of(request))
    except QuotaExceededError as exc:
        raise over_quota(exc) from exc
    except OverloadedError as exc:
        raise overloaded(exc) from exc


@contextlib.contextmanager
def _caller_trace(headers: dict[str, str]) -> Iterator[None]:
    """Make the caller's W3C trace context current, so the run's span can continue it."""
    token = otel_context.attach(extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


async def list_graphs(request: Request) -> Response:
    """``GET /graphs``: names, descriptions and input JSON Schemas (of the caller's graphs)."""
    engine, caller = _engine(request), caller_of(request)
    graphs = [
        models.GraphInfo(name=spec.name, description=spec.description,
                         input_schema=spec.input_schema())
        for spec in map(engine.spec, engine.graph_names()) if caller.may_use(spec.name)
    ]  # fmt: skip
    return JSON(models.GraphList(graphs=graphs))


async def invoke(request: Request) -> Response:
    """``POST /graphs/{name}/invoke``: run to completion, answer the result."""
    try:
        name, run_input = await _prepare(request)
        ticket = _admit(request)
    except HttpError as exc:
        return exc.response()
    run_id = uuid.uuid4().hex
    timeout_s = request.app.state.config.request_timeout_s
    try:
        async with asyncio.timeout(timeout_s) as deadline, ticket:
            with _caller_trace(dict(request.headers)):
                result = await _engine(request).invoke(name, run_input, run_id=run_id)
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
        ticket = _admit(request)
    except HttpError as exc:
        return exc.response()
    state = request.app.state
    try:
        await ticket.enter()
    except BaseException:
        ticket.leave()
        raise
    run_id = uuid.uuid4().hex
    headers = dict(request.headers)
    engine = _engine(request)

    async def events() -> AsyncIterator[tuple[str, Any]]:
        # The body runs in the response's own task: make the caller's trace current here.
        timeout_s = state.config.request_timeout_s
        with _caller_trace(headers):
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

    return event_stream(events(), on_close=ticket.leave,
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
        ApiRoute("/graphs/{name}/runs", start_run, method="POST", operation=Operation(
            "start_run_{graph}", "Start {graph} in the background; 202 with where to follow it",
            "graphs",
            {202: Answer("Accepted: the run's id and its LangGraph API URLs.",
                         models.RunAccepted, headers=("Location",)),
             **{k: v for k, v in RUN_ERRORS.items() if k not in (500, 504)}},
            per_graph=True, body_description="The graph's input; an empty body means {}.",
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
