"""The subset of LangGraph's server API that `langgraph_sdk.get_client(url=...)` uses.

Mount it beside the engine's own routes (the Engine is read from
``request.app.state.engine``; runs are tracked by a `RunManager` created on first use):

    Starlette(routes=[*own_routes, *sdk_routes()], lifespan=...)

and run `.services.sdk_services(app)` in the lifespan for the store and the cron
scheduler. Each registered graph has a system assistant (``assistant_id`` is a uuid5 of
its name; the name itself is accepted too); saved assistants, the store and crons are
`.assistant_routes`, `.store_routes` and `.cron_routes`. Served here: threads
create/get/search, state, history; runs (`.run_routes`, `.run_read_routes`): ``wait``
and ``stream``, stateless (``/runs/...``) and on a thread, in every stream mode of
LangGraph's ``astream`` (``values``, ``updates``, ``messages``, ``messages-tuple``,
``events``, ``tasks``, ``checkpoints``, ``debug``, ``custom``; ``mode|ns`` with
``stream_subgraphs``; numbered server-sent events: ``metadata`` first, ``error`` on
failure); background ``create`` (``POST /runs`` too) and ``POST /runs/batch``; ``get``,
``list`` (by ``status``, ``select``), ``join``, ``join_stream`` (``Last-Event-ID``),
``cancel`` (``action``), ``POST /runs/cancel``, ``delete``; a run's ``command``,
``interrupt_before``/``after``, ``checkpoint_id``, ``context``, ``on_disconnect``,
``webhook``, ``durability``, ``after_seconds`` (`.run_plan`). Bodies are the models of
`.models` and `.run_models`; errors answer ``{"detail": ...}`` (`.errors`): 401 no valid
credentials; 403 a graph the key does not cover, or a change by a read-only key; 404
unknown assistant, thread or run (another tenant's are unknown); 409 a thread already
exists or is busy (``multitask_strategy`` 'reject', the default; 'enqueue' queues,
'interrupt' and 'rollback' cancel the running run, which keeps its completed supersteps:
'rollback' then deletes it and its checkpoints); 415 a body that is not JSON; 422 bad
input, command or run option (naming it); 429 over the key's quota; 503 overloaded or
the checkpoint store is down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.engine.run_record import error_text
from graphs.server.caller import caller_of
from graphs.server.encoding import JSON, EncodingError
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api.assistant_routes import assistant_routes
from graphs.server.langgraph_api.cron_routes import cron_routes
from graphs.server.langgraph_api.endpoint import (
    BODY_ERRORS,
    TAG,
    answers,
    engine_of,
    sdk_route,
    thread_record,
)
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.run_routes import run_routes
from graphs.server.langgraph_api.store_routes import store_routes
from graphs.server.langgraph_api.views import (
    assistant_id_of,
    empty_state,
    state_of,
    thread_of,
)
from graphs.server.openapi import Answer, Operation
from stores.errors import SophiaError

__all__ = ["assistant_id_of", "sdk_routes"]

logger = logging.getLogger(__name__)


# -- threads ------------------------------------------------------------------------
async def create_thread(request: Request, body: m.ThreadCreate) -> Response:
    """``POST /threads``: a new thread of the caller's (409 if ``thread_id`` exists,
    unless do_nothing)."""
    engine = engine_of(request)
    await engine.durable.ensure_ready()
    record = await engine.durable.threads.create(
        body.thread_id, body.metadata or {}, owner=caller_of(request).tenant,
        if_exists=body.if_exists or "raise",
    )  # fmt: skip
    return JSON(thread_of(record))


async def get_thread(request: Request) -> Response:
    """``GET /threads/{thread_id}``."""
    return JSON(thread_of(await thread_record(request, request.path_params["thread_id"])))


async def search_threads(request: Request, body: m.ThreadSearch) -> Response:
    """``POST /threads/search``: the caller's threads, most recently updated first, in one
    query of the thread table (no checkpoint is read)."""
    engine, caller = engine_of(request), caller_of(request)
    await engine.durable.ensure_ready()
    records = await engine.durable.threads.search(
        body.limit, body.offset, owner=caller.tenant, status=body.status, ids=body.ids,
        graphs=caller.graphs,
    )  # fmt: skip
    return JSON([thread_of(r) for r in records])


async def _readable(thread_id: str, read: Awaitable[Any]) -> Any:
    """`read`'s result; ApiError 409 when the thread's stored state cannot be decoded
    (or has no JSON form): that thread's own error, never a 500."""
    try:
        return await read
    except EncodingError:
        pass
    except SophiaError:
        raise
    except Exception as exc:
        logger.warning("thread %s: stored state unreadable: %s", thread_id, error_text(exc))
    raise ApiError(409, f"the stored state of thread {thread_id} cannot be read")


async def thread_state(request: Request) -> Response:
    """``GET /threads/{thread_id}/state``: the latest checkpoint."""
    record = await thread_record(request, request.path_params["thread_id"])
    graph = record.graph_id
    if graph is None:
        return JSON(empty_state(record.thread_id))
    engine = engine_of(request)

    async def read() -> Response:
        return JSON(state_of(await engine.get_state(graph, record.thread_id)))

    response: Response = await _readable(record.thread_id, read())
    return response


async def thread_history(request: Request, body: m.HistoryRequest) -> Response:
    """``POST /threads/{thread_id}/history``: checkpoints, newest first."""
    record = await thread_record(request, request.path_params["thread_id"])
    graph = record.graph_id
    if graph is None:
        return JSON([])
    engine = engine_of(request)

    async def read() -> Response:
        history = await engine.get_state_history(graph, record.thread_id, limit=body.limit)
        return JSON([state_of(s) for s in history])

    response: Response = await _readable(record.thread_id, read())
    return response


def sdk_routes() -> list[BaseRoute]:
    """The LangGraph SDK API routes; the app must set ``app.state.engine`` (open)."""
    thread, threads = Answer("The thread.", m.Thread), Answer("The threads.", m.Thread, many=True)
    state = Answer("The checkpoint.", m.ThreadState)
    states = Answer("Checkpoints, newest first.", m.ThreadState, many=True)
    routes = [
        sdk_route("/threads", "POST", create_thread, Operation(
            "sdk_create_thread", "Create a thread", TAG,
            answers({200: thread}, 409, *BODY_ERRORS, 503), body=m.ThreadCreate,
        )),
        sdk_route("/threads/search", "POST", search_threads, Operation(
            "sdk_search_threads", "The caller's threads, most recently updated first", TAG,
            answers({200: threads}, *BODY_ERRORS, 503), body=m.ThreadSearch,
        ), access="read"),
        sdk_route("/threads/{thread_id}", "GET", get_thread, Operation(
            "sdk_get_thread", "One thread", TAG, answers({200: thread}, 404, 503),
        )),
        sdk_route("/threads/{thread_id}/state", "GET", thread_state, Operation(
            "sdk_thread_state", "The thread's latest checkpoint", TAG,
            answers({200: state}, 404, 409, 503),
        )),
        sdk_route("/threads/{thread_id}/history", "POST", thread_history, Operation(
            "sdk_thread_history", "Checkpoints, newest first", TAG,
            answers({200: states}, 404, 409, *BODY_ERRORS, 503), body=m.HistoryRequest,
        ), access="read"),
    ]  # fmt: skip
    return [*routes, *run_routes(), *assistant_routes(), *store_routes(), *cron_routes()]
