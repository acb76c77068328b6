"""How a LangGraph API route is made: its handler, its `Operation`, one wrapper.

`sdk_route` parses the request body (`graphs.server.body`: JSON only, bounded, checked)
and query string with the operation's own models (so what the document says is what the
route reads), calls the handler with them, and answers our errors the way the SDK
expects (`graphs.server.langgraph_api.errors`), refusals of authentication included.

Everything a route reads or writes is the caller's (`graphs.server.caller`): a thread of
another tenant is answered as unknown (404), a graph the caller's key does not cover is
403, and the routes' `Operation.access` keeps read-only keys from changing anything.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, RootModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from graphs.durable.errors import UnknownThreadError
from graphs.durable.threads import ThreadRecord
from graphs.engine.engine import Engine
from graphs.server.body import BODY_TIMEOUT_S, read_json
from graphs.server.caller import Caller, caller_of
from graphs.server.langgraph_api.errors import ApiError, Detail, api_error, invalid_body
from graphs.server.langgraph_api.runs import RunManager
from graphs.server.openapi import Access, Answer, ApiRoute, ErrorStyle, Operation

logger = logging.getLogger(__name__)

TAG = "langgraph-sdk"
Handler = Callable[..., Awaitable[Response]]

_MEANING = {
    400: "The body is not JSON the service accepts.",
    404: "Unknown assistant, thread or run (or another tenant's).",
    408: "The body did not arrive in time.",
    409: "The thread exists already, or is busy (multitask_strategy 'reject').",
    413: "The body is over 1 MiB.",
    415: "The body is not application/json.",
    422: "The body or the graph input is invalid.",
    429: "Over the key's quota; see Retry-After.",
    503: "Overloaded, shutting down, or the checkpoint store is unavailable; see Retry-After.",
    501: "Not served by this server (the detail says what to use instead).",
    504: "The run did not finish in time; join it again.",
}


def _detail(status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
    return ApiError(status, message, dict(headers)).response()


DETAIL_ERRORS = ErrorStyle(Detail, _detail)
"""Refusals (401, 403, ...) in LangGraph's ``{"detail"}`` body."""


def answers(ok: Mapping[int, Answer], *errors: int) -> dict[int, Answer]:
    """`ok` plus a ``{"detail"}`` answer for each of `errors` (Retry-After on 429/503)."""
    return {**ok, **{
        code: Answer(_MEANING[code], Detail,
                     headers=("Retry-After",) if code in (429, 503) else ())
        for code in errors
    }}  # fmt: skip


BODY_ERRORS = (408, 413, 415, 422)
"""What reading a JSON body can answer."""


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


def may_use(caller: Caller, graph: str | None) -> None:
    """ApiError 403 unless `caller` may use graph `graph` (None: no graph yet)."""
    if graph is not None and not caller.may_use(graph):
        raise ApiError(403, f"this key may not use graph {graph}")


async def thread_record(request: Request, thread_id: str) -> ThreadRecord:
    """The caller's thread `thread_id`; UnknownThreadError (404) when there is none (or it
    is another tenant's), ApiError 403 when its graph is not the caller's to use."""
    engine = engine_of(request)
    caller = caller_of(request)
    await engine.durable.ensure_ready()
    record = await engine.durable.threads.get(thread_id, owner=caller.tenant)
    if record is None:
        raise UnknownThreadError(thread_id)
    may_use(caller, record.graph_id)
    return record


async def _body(request: Request, model: type[BaseModel]) -> BaseModel:
    config = getattr(request.app.state, "security", None)
    timeout_s = config.body_timeout_s if config is not None else BODY_TIMEOUT_S
    data = await read_json(request, timeout_s=timeout_s)
    listed = issubclass(model, RootModel)  # a body that is a JSON array
    if data is None:
        data = [] if listed else {}
    if not isinstance(data, list if listed else dict):
        raise ApiError(422, f"request body must be a JSON {'array' if listed else 'object'}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_body(exc) from exc


def _query(request: Request, model: type[BaseModel]) -> BaseModel:
    params = request.query_params
    # A parameter given several times (``stream_mode=a&stream_mode=b``) is a list.
    raw = {k: (v if len(v := params.getlist(k)) > 1 else v[0]) for k in params}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid_body(exc) from exc


def sdk_route(
    path: str, method: str, handler: Handler, operation: Operation, access: Access | None = None
) -> ApiRoute:
    """The route of `handler`, called as ``handler(request[, body][, query])`` with the
    operation's `body` and `query` models parsed; every error answers ``{"detail"}``
    (an unexpected one as a 500 that carries no details; the log has them). `access`
    overrides the operation's (a POST that only reads: ``"read"``)."""

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
    if access is not None:
        operation = dataclasses.replace(operation, access=access)
    return ApiRoute(path, endpoint, method=method, operation=operation, errors=DETAIL_ERRORS)
