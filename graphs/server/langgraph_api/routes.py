"""The subset of LangGraph's server API that `langgraph_sdk.get_client(url=...)` uses.

Mount it beside the engine's own routes (the Engine is read from
``request.app.state.engine``; runs are tracked by a `RunManager` created on first use):

    Starlette(routes=[*own_routes, *sdk_routes()], lifespan=...)

and run `.services.sdk_services(app)` in the lifespan for the store and the cron
scheduler. Each registered graph has a system assistant (``assistant_id`` is a uuid5 of
its name; the name itself is accepted too); saved assistants, the store and crons are
`.assistant_routes`, `.store_routes` and `.cron_routes`.

Served here, for threads: ``create`` (``metadata.graph_id`` sets the thread's graph;
``supersteps`` of state updates applied in order), ``get``, ``search`` and ``count`` (by
ids, status, metadata and values containment, in SQL; sort, paging, ``select``); in
`.thread_routes` ``update`` (merges metadata), ``delete`` (with its checkpoints, runs and
crons), ``copy`` (with its checkpoints), ``prune`` (``delete`` or ``keep_latest``); in
`.state_routes` ``get_state`` (latest, at a checkpoint by GET or POST, of a subgraph's
namespace, ``subgraphs``), ``update_state`` (values checked as a command's ``update``;
``as_node`` a node a ``goto`` may target; from a checkpoint: a fork) and ``get_history``
(``before`` a checkpoint, by checkpoint ``metadata``). A run records ``graph_id`` and
``assistant_id`` in its thread's metadata and its config in the thread's. Refused:
a thread's ``join_stream`` (501), and ``ttl``, ``extract``, ``select`` on states, a
superstep's ``command`` (422).

For runs (`.run_routes`, `.run_read_routes`): ``wait`` and ``stream``, stateless
(``/runs/...``) and on a thread, in every stream mode of LangGraph's ``astream``
(``values``, ``updates``, ``messages``, ``messages-tuple``, ``events``, ``tasks``,
``checkpoints``, ``debug``, ``custom``; ``mode|ns`` with ``stream_subgraphs``; numbered
server-sent events: ``metadata`` first, ``error`` on failure); background ``create``
(``POST /runs`` too) and ``POST /runs/batch``; ``get``, ``list`` (by ``status``,
``select``), ``join``, ``join_stream`` (``Last-Event-ID``), ``cancel`` (``action``),
``POST /runs/cancel``, ``delete``; a run's ``command``, ``interrupt_before``/``after``,
``checkpoint_id``, ``context``, ``on_disconnect``, ``webhook``, ``durability``,
``after_seconds`` (`.run_plan`).

Bodies are the models of `.models`, `.thread_models` and `.run_models`; errors answer
``{"detail": ...}`` (`.errors`): 401 no valid credentials; 403 a graph the key does not
cover, or a change by a read-only key; 404 unknown assistant, thread or run (another
tenant's are unknown); 409 a thread already exists or is busy (``multitask_strategy``
'reject', the default; 'enqueue' queues, 'interrupt' and 'rollback' cancel the running
run, which keeps its completed supersteps: 'rollback' then deletes it and its
checkpoints); 415 a body that is not JSON; 422 bad input, command or run option (naming
it); 429 over the key's quota; 503 overloaded or the checkpoint store is down.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.durable.thread_filters import ThreadFilter
from graphs.engine.thread_admin import delete_threads
from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api import state_routes as s
from graphs.server.langgraph_api import thread_models as t
from graphs.server.langgraph_api import thread_routes as tr
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
from graphs.server.langgraph_api.views import assistant_id_of, thread_of
from graphs.server.openapi import Answer, Operation

__all__ = ["assistant_id_of", "sdk_routes"]


# -- threads ------------------------------------------------------------------------
async def create_thread(request: Request, body: t.ThreadCreate) -> Response:
    """``POST /threads``: a new thread of the caller's (409 if ``thread_id`` exists,
    unless do_nothing); ``metadata.graph_id`` sets its graph; ``supersteps`` are checked
    first, then applied in order (a refused one leaves no thread behind)."""
    engine, caller = engine_of(request), caller_of(request)
    metadata = dict(body.metadata or {})
    graph = tr.named_graph(engine, caller, metadata.get("graph_id"))
    steps = None
    if body.supersteps:
        if graph is None:
            raise ApiError(422, "supersteps: name the graph they update in metadata.graph_id")
        if body.if_exists == "do_nothing":
            raise ApiError(422, "supersteps: give them only to create a new thread "
                           "(if_exists 'raise')")  # fmt: skip
        schema = s.state_schema(request, graph)
        steps = [s.checked_updates(schema, step.updates, f"supersteps.{i}.updates")
                 for i, step in enumerate(body.supersteps)]  # fmt: skip
    await engine.durable.ensure_ready()
    threads = engine.durable.threads
    record = await threads.create(
        body.thread_id, metadata, owner=caller.tenant, graph_id=graph,
        if_exists=body.if_exists or "raise",
    )  # fmt: skip
    if steps and graph is not None:
        try:
            await s.apply_updates(engine, graph, record.thread_id, steps)
        except BaseException:
            await delete_threads(engine, [record.thread_id])
            raise
        record = await thread_record(request, record.thread_id)
    return JSON(thread_of(record))


async def get_thread(request: Request) -> Response:
    """``GET /threads/{thread_id}``."""
    return JSON(thread_of(await thread_record(request, request.path_params["thread_id"])))


async def search_threads(request: Request, body: t.ThreadSearch) -> Response:
    """``POST /threads/search``: the caller's threads matching every filter, in one query
    of the thread table (no checkpoint is read)."""
    engine, caller = engine_of(request), caller_of(request)
    await engine.durable.ensure_ready()
    records = await engine.durable.threads.search(
        body.limit, body.offset, owner=caller.tenant, status=body.status, ids=body.ids,
        graphs=caller.graphs, metadata=body.metadata, values=body.values,
        sort_by=body.sort_by, sort_order=body.sort_order,
    )  # fmt: skip
    threads = [thread_of(r) for r in records]
    if body.select:
        wanted = set(body.select)
        return JSON([{k: v for k, v in th.model_dump().items() if k in wanted} for th in threads])
    return JSON(threads)


async def count_threads(request: Request, body: t.ThreadCount) -> Response:
    """``POST /threads/count``: how many of the caller's threads match (one query)."""
    engine, caller = engine_of(request), caller_of(request)
    await engine.durable.ensure_ready()
    where = ThreadFilter(owner=caller.tenant, graphs=caller.graphs, status=body.status,
                         metadata=body.metadata, values=body.values)  # fmt: skip
    return JSON(await engine.durable.threads.count(where))


def _thread_routes() -> list[BaseRoute]:
    thread = Answer("The thread.", m.Thread)
    threads = Answer("The threads (only the fields `select` names).", m.SelectedThread,
                     many=True)  # fmt: skip
    counted = Answer("How many threads match.", t.ThreadCountResult)
    pruned = Answer("How many threads were pruned.", t.PruneResult)
    return [
        sdk_route("/threads", "POST", create_thread, Operation(
            "sdk_create_thread", "Create a thread", TAG,
            answers({200: thread}, 409, *BODY_ERRORS, 503), body=t.ThreadCreate,
        )),
        sdk_route("/threads/search", "POST", search_threads, Operation(
            "sdk_search_threads", "The caller's threads, most recently updated first", TAG,
            answers({200: threads}, *BODY_ERRORS, 503), body=t.ThreadSearch,
        ), access="read"),
        sdk_route("/threads/count", "POST", count_threads, Operation(
            "sdk_count_threads", "How many of the caller's threads match", TAG,
            answers({200: counted}, *BODY_ERRORS, 503), body=t.ThreadCount,
        ), access="read"),
        sdk_route("/threads/prune", "POST", tr.prune, Operation(
            "sdk_prune_threads", "Delete threads, or keep only their latest checkpoint", TAG,
            answers({200: pruned}, 404, 409, *BODY_ERRORS, 503), body=t.ThreadPrune,
        )),
        sdk_route("/threads/{thread_id}", "GET", get_thread, Operation(
            "sdk_get_thread", "One thread", TAG, answers({200: thread}, 404, 503),
        )),
        sdk_route("/threads/{thread_id}", "PATCH", tr.update_thread, Operation(
            "sdk_update_thread", "Merge metadata into the thread's", TAG,
            answers({200: thread}, 404, *BODY_ERRORS, 503), body=t.ThreadPatch,
        )),
        sdk_route("/threads/{thread_id}", "DELETE", tr.delete_thread, Operation(
            "sdk_delete_thread", "Delete the thread, its checkpoints, runs and crons", TAG,
            answers({204: Answer("Deleted.")}, 404, 409, 503),
        )),
        sdk_route("/threads/{thread_id}/copy", "POST", tr.copy, Operation(
            "sdk_copy_thread", "A new thread with the same checkpoints", TAG,
            answers({200: thread}, 404, 503),
        )),
        sdk_route("/threads/{thread_id}/stream", "GET", tr.join_stream, Operation(
            "sdk_join_thread_stream", "Join a thread's stream (not served)", TAG,
            answers({}, 404, 501, 503),
        )),
    ]  # fmt: skip


def _state_routes() -> list[BaseRoute]:
    state = Answer("The checkpoint.", m.ThreadState)
    states = Answer("Checkpoints, newest first.", m.ThreadState, many=True)
    updated = Answer("The checkpoint written.", t.StateUpdated)
    return [
        sdk_route("/threads/{thread_id}/state", "GET", s.thread_state, Operation(
            "sdk_thread_state", "The thread's latest checkpoint", TAG,
            answers({200: state}, 404, 409, 422, 503), query=t.StateQuery,
        )),
        sdk_route("/threads/{thread_id}/state", "POST", s.update_state, Operation(
            "sdk_update_thread_state", "Write values to the thread's state", TAG,
            answers({200: updated}, 404, 409, *BODY_ERRORS, 503), body=t.StateUpdateRequest,
        )),
        sdk_route("/threads/{thread_id}/state/checkpoint", "POST", s.thread_state_post,
                  Operation(
            "sdk_thread_state_post", "The thread (or a subgraph) at a checkpoint", TAG,
            answers({200: state}, 404, 409, *BODY_ERRORS, 503), body=t.StateAtCheckpoint,
        ), access="read"),
        sdk_route("/threads/{thread_id}/state/{checkpoint_id}", "GET", s.thread_state_at,
                  Operation(
            "sdk_thread_state_at", "The thread at a checkpoint", TAG,
            answers({200: state}, 404, 409, 422, 503), query=t.StateQuery,
        )),
        sdk_route("/threads/{thread_id}/history", "POST", s.thread_history, Operation(
            "sdk_thread_history", "Checkpoints, newest first", TAG,
            answers({200: states}, 404, 409, *BODY_ERRORS, 503), body=t.HistoryRequest,
        ), access="read"),
    ]  # fmt: skip


def sdk_routes() -> list[BaseRoute]:
    """The LangGraph SDK API routes; the app must set ``app.state.engine`` (open)."""
    return [*_thread_routes(), *_state_routes(), *run_routes(), *assistant_routes(),
            *store_routes(), *cron_routes()]  # fmt: skip
