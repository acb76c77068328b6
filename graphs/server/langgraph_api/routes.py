"""The subset of LangGraph's server API that `langgraph_sdk.get_client(url=...)` uses.

Mount it beside the engine's own routes (the Engine is read from
``request.app.state.engine``; runs are tracked by a `RunManager` created on first use):

    Starlette(routes=[*own_routes, *sdk_routes()], lifespan=...)

and run `.services.sdk_services(app)` in the lifespan for the store and the cron
scheduler. Each registered graph has a system assistant (``assistant_id`` is a uuid5 of
its name; the name itself is accepted too); saved assistants, the store and crons are
`.assistant_routes`, `.store_routes` and `.cron_routes`. Served here: threads
create/get/search, state, history; runs ``wait`` and ``stream`` (modes ``values`` and
``updates``, in the SDK's server-sent events: ``metadata`` first, then one event per
chunk named by its mode, ``error`` on failure), stateless (``/runs/...``) and on a
thread; background ``create``, ``get``, ``list``, ``join``, ``cancel``; resuming an
interrupt with ``command={"resume": ...}``. Bodies are the models of `.models`; errors
answer ``{"detail": ...}`` (`.errors`): 404 unknown assistant, thread or run; 409 a
thread already exists or is busy (``multitask_strategy`` 'reject', the default;
'enqueue' queues, 'interrupt' and 'rollback' cancel the running run, which keeps its
completed supersteps); 422 bad input; 503 the checkpoint store is down.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.server.encoding import JSON
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api.assistant_routes import assistant_routes
from graphs.server.langgraph_api.cron_routes import cron_routes
from graphs.server.langgraph_api.endpoint import (
    TAG,
    answers,
    engine_of,
    runs_of,
    sdk_route,
    thread_record,
)
from graphs.server.langgraph_api.run_routes import run_routes
from graphs.server.langgraph_api.store_routes import store_routes
from graphs.server.langgraph_api.views import (
    assistant_id_of,
    empty_state,
    state_of,
    thread_of,
)
from graphs.server.openapi import Answer, Operation

__all__ = ["assistant_id_of", "sdk_routes"]


# -- threads ------------------------------------------------------------------------
async def create_thread(request: Request, body: m.ThreadCreate) -> Response:
    """``POST /threads``: a new thread (409 if ``thread_id`` exists, unless do_nothing)."""
    engine = engine_of(request)
    await engine.durable.ensure_ready()
    record = await engine.durable.threads.create(
        body.thread_id, body.metadata or {}, if_exists=body.if_exists or "raise"
    )
    return JSON(await thread_of(engine, runs_of(request), record))


async def get_thread(request: Request) -> Response:
    """``GET /threads/{thread_id}``."""
    record = await thread_record(request, request.path_params["thread_id"])
    return JSON(await thread_of(engine_of(request), runs_of(request), record))


async def search_threads(request: Request, body: m.ThreadSearch) -> Response:
    """``POST /threads/search``: threads, most recently updated first."""
    engine, runs = engine_of(request), runs_of(request)
    await engine.durable.ensure_ready()
    records = await engine.durable.threads.search(body.limit, body.offset)
    return JSON([await thread_of(engine, runs, r) for r in records])


async def thread_state(request: Request) -> Response:
    """``GET /threads/{thread_id}/state``: the latest checkpoint."""
    record = await thread_record(request, request.path_params["thread_id"])
    if record.graph_id is None:
        return JSON(empty_state(record.thread_id))
    snapshot = await engine_of(request).get_state(record.graph_id, record.thread_id)
    return JSON(state_of(snapshot))


async def thread_history(request: Request, body: m.HistoryRequest) -> Response:
    """``POST /threads/{thread_id}/history``: checkpoints, newest first."""
    record = await thread_record(request, request.path_params["thread_id"])
    if record.graph_id is None:
        return JSON([])
    history = await engine_of(request).get_state_history(
        record.graph_id, record.thread_id, limit=body.limit
    )
    return JSON([state_of(s) for s in history])


def sdk_routes() -> list[BaseRoute]:
    """The LangGraph SDK API routes; the app must set ``app.state.engine`` (open)."""
    thread, threads = Answer("The thread.", m.Thread), Answer("The threads.", m.Thread, many=True)
    state = Answer("The checkpoint.", m.ThreadState)
    states = Answer("Checkpoints, newest first.", m.ThreadState, many=True)
    routes = [
        sdk_route("/threads", "POST", create_thread, Operation(
            "sdk_create_thread", "Create a thread", TAG,
            answers({200: thread}, 409, 413, 422, 503), body=m.ThreadCreate,
        )),
        sdk_route("/threads/search", "POST", search_threads, Operation(
            "sdk_search_threads", "Threads, most recently updated first", TAG,
            answers({200: threads}, 413, 422, 503), body=m.ThreadSearch,
        )),
        sdk_route("/threads/{thread_id}", "GET", get_thread, Operation(
            "sdk_get_thread", "One thread", TAG, answers({200: thread}, 404, 503),
        )),
        sdk_route("/threads/{thread_id}/state", "GET", thread_state, Operation(
            "sdk_thread_state", "The thread's latest checkpoint", TAG,
            answers({200: state}, 404, 503),
        )),
        sdk_route("/threads/{thread_id}/history", "POST", thread_history, Operation(
            "sdk_thread_history", "Checkpoints, newest first", TAG,
            answers({200: states}, 404, 413, 422, 503), body=m.HistoryRequest,
        )),
    ]  # fmt: skip
    return [*routes, *run_routes(), *assistant_routes(), *store_routes(), *cron_routes()]
