"""The LangGraph API's routes that change or remove whole threads: update (merge
metadata), delete, copy and prune, and ``join_stream``, which is refused.

A thread is the caller's (another tenant's is 404, as an unknown one). Deleting removes
the thread's checkpoints (the checkpointer's ``adelete_thread``), its row, and its run
and cron records; a thread a run is using is 409 (let the run finish, or cancel it).
A copy is a new thread of the caller's with the source's metadata, config, values and
every checkpoint (`graphs.engine.thread_admin`). Pruning takes the caller's threads only:
an id that is not one is 404 and nothing is pruned.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from graphs.durable.errors import UnknownThreadError
from graphs.durable.threads import ThreadRecord
from graphs.engine.engine import Engine
from graphs.engine.thread_admin import (
    PruneNotSupportedError,
    copy_thread,
    delete_threads,
    keep_latest,
)
from graphs.server.caller import Caller, caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import thread_models as t
from graphs.server.langgraph_api.endpoint import engine_of, may_use, runs_of, thread_record
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.views import thread_of


def named_graph(engine: Engine, caller: Caller, graph: Any) -> str | None:
    """The graph ``metadata.graph_id`` names (None: none named); 422 for one this server
    does not run, 403 for one the caller's key does not cover."""
    if graph is None:
        return None
    if not isinstance(graph, str) or graph not in engine.graph_names():
        usable = [n for n in engine.graph_names() if caller.may_use(n)]
        raise ApiError(422, f"metadata.graph_id: no graph {str(graph)[:100]!r} here; "
                       f"expected one of {usable}")  # fmt: skip
    may_use(caller, graph)
    return graph


def _idle(request: Request, record: ThreadRecord) -> None:
    """ApiError 409 while a run uses the thread."""
    if record.status == "busy" or runs_of(request).active.get(record.thread_id) is not None:
        raise ApiError(409, f"thread {record.thread_id} is busy with a run; cancel the run "
                       "or wait for it to finish")  # fmt: skip


async def update_thread(request: Request, body: t.ThreadPatch) -> Response:
    """``PATCH /threads/{thread_id}``: merge metadata (its keys win); the thread. A
    ``graph_id`` in it names the graph the thread's state is read and written with."""
    record = await thread_record(request, request.path_params["thread_id"])
    engine, caller = engine_of(request), caller_of(request)
    graph = named_graph(engine, caller, body.metadata.get("graph_id"))
    updated = await engine.durable.threads.update_metadata(
        record.thread_id, body.metadata, owner=caller.tenant, graph_id=graph
    )
    if updated is None:  # deleted in between
        raise UnknownThreadError(record.thread_id)
    return JSON(thread_of(updated))


async def delete_thread(request: Request) -> Response:
    """``DELETE /threads/{thread_id}``: the thread, its checkpoints, runs and crons."""
    record = await thread_record(request, request.path_params["thread_id"])
    _idle(request, record)
    await delete_threads(engine_of(request), [record.thread_id])
    return Response(status_code=204)


async def copy(request: Request) -> Response:
    """``POST /threads/{thread_id}/copy``: a new thread with the same checkpoints."""
    record = await thread_record(request, request.path_params["thread_id"])
    made = await copy_thread(engine_of(request), record, owner=caller_of(request).tenant)
    return JSON(thread_of(made))


async def prune(request: Request, body: t.ThreadPrune) -> Response:
    """``POST /threads/prune``: delete the threads, or keep each one's latest checkpoint."""
    ids = list(dict.fromkeys(body.thread_ids))
    if not ids:
        return JSON(t.PruneResult(pruned_count=0))
    engine, caller = engine_of(request), caller_of(request)
    await engine.durable.ensure_ready()
    found = await engine.durable.threads.search(
        len(ids), 0, owner=caller.tenant, ids=ids, graphs=caller.graphs
    )
    known = {r.thread_id for r in found}
    missing = [i for i in ids if i not in known]
    if missing:
        raise UnknownThreadError(missing[0])
    for record in found:
        _idle(request, record)
    if body.strategy == "delete":
        return JSON(t.PruneResult(pruned_count=len(await delete_threads(engine, ids))))
    try:
        await keep_latest(engine, ids)
    except PruneNotSupportedError as exc:
        raise ApiError(422, f"strategy: this checkpoint store ({exc}) cannot keep only the "
                       "latest checkpoints; use 'delete'") from None  # fmt: skip
    return JSON(t.PruneResult(pruned_count=len(ids)))


async def join_stream(request: Request) -> Response:
    """``GET /threads/{thread_id}/stream``: refused (501): this server streams a run to
    the request that started it, not yet to a thread's other listeners."""
    await thread_record(request, request.path_params["thread_id"])
    raise ApiError(501, "joining a thread's stream is not served by this server; stream a "
                   "run with runs.stream, or wait for it with runs.join")  # fmt: skip
