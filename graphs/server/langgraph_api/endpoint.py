"""How a LangGraph API route is made: its handler, its `Operation`, one wrapper.

`sdk_route` parses the request body and query string with the operation's own models
(so what the document says is what the route reads), calls the handler with them, and
answers our errors the way the SDK expects (`graphs.server.langgraph_api.errors`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from graphs.durable.errors import UnknownThreadError
from graphs.durable.threads import ThreadRecord
from graphs.engine.engine import Engine
from graphs.server.langgraph_api.errors import ApiError, Detail, api_error, invalid_body
from graphs.server.langgraph_api.runs import RunManager
from graphs.server.openapi import Answer, ApiRoute, Operation

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
TAG = "langgraph-sdk"
Handler = Callable[..., Awaitable[Response]]

_MEANING = {
    404: "Unknown assistant, thread or run.",
    409: "The thread exists already, or is busy (multitask_strategy 'reject').",
    413: "The body is over 1 MiB.",
    422: "The body or the graph input is invalid.",
    503: "The checkpoint store is unavailable.",
}


def answers(ok: Mapping[int, Answer], *errors: int) -> dict[int, Answer]:
    """`ok` plus a ``{"detail"}`` answer for each of `errors`."""
    return {**ok, **{code: Answer(_MEANING[code], Detail) for code in errors}}


def engine_of(request: Request) -> Engine:
    """The open engine the app keeps."""
    engine: Engine = request.app.state.engine
    return engine


def runs_of(request: Request) -> RunManager:
    """The app's run manager (made on first use, for the app's current engine)."""
    return app_runs(request.app)


def app_runs(app: Any) -> RunManager:
    """The run manager of `app` (made on first use, for the app's current engine)."""
    state = app.state
    manager: RunManager | None = getattr(state, "sdk_runs", None)
    if manager is None or manager.engine is not state.engine:
        manager = state.sdk_runs = RunManager(state.engine)
    return manager


async def thread_record(request: Request, thread_id: str) -> ThreadRecord:
    """The record of `thread_id`; UnknownThreadError (404) when there is none."""
    engine = engine_of(request)
    await engine.durable.ensure_ready()
    record = await engine.durable.threads.get(thread_id)
    if record is None:
        raise UnknownThreadError(thread_id)
    return record


async def _body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise ApiError(422, f"request body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_body(exc) from exc


def _query(request: Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise invalid_body(exc) from exc


def sdk_route(path: str, method: str, handler: Handler, operation: Operation) -> ApiRoute:
    """The route of `handler`, called as ``handler(request[, body][, query])`` with the
    operation's `body` and `query` models parsed; every error answers ``{"detail"}``
    (an unexpected one as a 500 that carries no details; the log has them)."""

    async def endpoint(request: Request) -> Response:
        try:
            args: list[Any] = []
            if operation.body is not None:
                args.append(await _body(request, operation.body))
            if operation.query is not None:
                args.append(_query(request, operation.query))
            return await handler(request, *args)
        except Exception as exc:
            error = api_error(exc)
            if error is None:
                logger.error("unhandled error on %s %s", method, path, exc_info=exc)
                error = ApiError(500, "internal error; the server log has details")
            return error.response()

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return ApiRoute(path, endpoint, method=method, operation=operation)
