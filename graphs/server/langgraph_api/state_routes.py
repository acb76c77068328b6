"""The LangGraph API's state routes: a thread's state (latest, or at a checkpoint, with
subgraphs), its history (before a checkpoint, by checkpoint metadata) and updating it.

Everything goes through LangGraph's own graph API on the thread's graph (``aget_state``,
``aget_state_history``, ``aupdate_state`` / ``abulk_update_state``: see
`graphs.engine.threads`). Values written by a caller are checked as a command's
``update`` is (`graphs.engine.commands`): a key the state does not have, a wrongly typed
value, or a key only the graph's nodes may write is a 422 and nothing is stored; writing
``as_node`` is allowed for the nodes a ``goto`` may target. A thread that is running is
409 (LangGraph's answer), as is one whose graph is not known yet (no run, and no
``metadata.graph_id`` when it was created).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from graphs.durable.threads import ThreadRecord
from graphs.engine.commands import StateSchema
from graphs.engine.engine import Engine
from graphs.engine.run_record import error_text
from graphs.server.encoding import JSON, EncodingError
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api import thread_models as t
from graphs.server.langgraph_api.endpoint import engine_of, runs_of, thread_record
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.views import empty_state, state_of
from stores.errors import SophiaError

logger = logging.getLogger(__name__)

_FILTER_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
"""Checkpoint metadata keys a history filter may name (the checkpointers' own rule,
without dots: a dotted key would mean a path on one store and a key on another)."""


async def readable(thread_id: str, read: Awaitable[Any]) -> Any:
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


def state_schema(request: Request, graph: str) -> StateSchema:
    """The checked state keys of `graph` (made once per app and engine)."""
    engine = engine_of(request)
    cache: dict[tuple[int, str], StateSchema] = request.app.state.__dict__.setdefault(
        "sdk_state_schemas", {}
    )
    schema = cache.get((id(engine), graph))
    if schema is None:
        schema = StateSchema(engine.spec(graph), engine.state_schema(graph))
        cache[(id(engine), graph)] = schema
    return schema


def checked_updates(
    schema: StateSchema, updates: Sequence[t.StateUpdate], field: str
) -> list[tuple[dict[str, Any] | None, str | None]]:
    """Each update's values and node, checked (InvalidInputError naming `field`.i)."""
    return [
        (
            None if u.values is None else schema.check_update(u.values, f"{field}.{i}.values"),
            schema.check_as_node(u.as_node, f"{field}.{i}.as_node"),
        )
        for i, u in enumerate(updates)
    ]


def _missing(checkpoint_id: str | None, thread_id: str, checkpoint_ns: str = "") -> ApiError:
    where = f" in namespace {checkpoint_ns[:100]!r}" if checkpoint_ns else ""
    return ApiError(404, f"checkpoint {(checkpoint_id or 'latest')[:100]}{where} not found "
                    f"on thread {thread_id}")  # fmt: skip


async def _state_at(
    request: Request, checkpoint_id: str | None, checkpoint_ns: str, subgraphs: bool
) -> Response:
    record = await thread_record(request, request.path_params["thread_id"])
    tid, graph = record.thread_id, record.graph_id
    if graph is None:
        if checkpoint_id or checkpoint_ns:
            raise _missing(checkpoint_id, tid, checkpoint_ns)
        return JSON(empty_state(tid))
    engine = engine_of(request)

    async def read() -> Response:
        snapshot = await engine.threads.get_state(
            graph, tid, checkpoint_id=checkpoint_id, checkpoint_ns=checkpoint_ns,
            subgraphs=subgraphs,
        )  # fmt: skip
        if snapshot.metadata is None and (checkpoint_id or checkpoint_ns):
            raise _missing(checkpoint_id, tid, checkpoint_ns)
        return JSON(state_of(snapshot))

    response: Response = await readable(tid, read())
    return response


async def thread_state(request: Request, query: t.StateQuery) -> Response:
    """``GET /threads/{thread_id}/state``: the latest checkpoint."""
    return await _state_at(request, None, "", query.subgraphs)


async def thread_state_at(request: Request, query: t.StateQuery) -> Response:
    """``GET /threads/{thread_id}/state/{checkpoint_id}``."""
    return await _state_at(request, request.path_params["checkpoint_id"], "", query.subgraphs)


async def thread_state_post(request: Request, body: t.StateAtCheckpoint) -> Response:
    """``POST /threads/{thread_id}/state/checkpoint``: a checkpoint, of the graph or of a
    subgraph (``checkpoint_ns``)."""
    ref = body.checkpoint
    return await _state_at(request, ref.checkpoint_id, ref.checkpoint_ns, body.subgraphs)


async def thread_history(request: Request, body: t.HistoryRequest) -> Response:
    """``POST /threads/{thread_id}/history``: checkpoints, newest first."""
    bad = [k for k in body.metadata or {} if not _FILTER_KEY.match(k)]
    if bad:
        raise ApiError(422, f"metadata: key {bad[0][:100]!r} may hold only letters, digits, "
                       "'_' and '-'")  # fmt: skip
    record = await thread_record(request, request.path_params["thread_id"])
    graph = record.graph_id
    if graph is None:
        return JSON([])
    before = body.before if isinstance(body.before, str | None) else body.before.checkpoint_id
    namespace = body.checkpoint.checkpoint_ns if body.checkpoint is not None else ""
    engine = engine_of(request)

    async def read() -> Response:
        history = await engine.threads.history(
            graph, record.thread_id, limit=body.limit, before=before, metadata=body.metadata,
            checkpoint_ns=namespace,
        )  # fmt: skip
        return JSON([state_of(s) for s in history])

    response: Response = await readable(record.thread_id, read())
    return response


def writable_graph(request: Request, record: ThreadRecord) -> str:
    """The graph of a thread whose state may be written now: ApiError 409 while a run
    uses it, or while it has no graph yet."""
    tid = record.thread_id
    running = runs_of(request).active.get(tid)
    if running is not None or record.status == "busy":
        raise ApiError(409, f"thread {tid} is busy with a run; update its state once the "
                       "run has finished")  # fmt: skip
    if record.graph_id is None:
        raise ApiError(409, f"thread {tid} has no graph yet: run it once, or create it with "
                       "metadata.graph_id")  # fmt: skip
    return record.graph_id


async def apply_updates(
    engine: Engine,
    graph: str,
    thread_id: str,
    supersteps: Sequence[Sequence[tuple[dict[str, Any] | None, str | None]]],
    checkpoint_id: str | None = None,
) -> m.Checkpoint:
    """Write checked `supersteps` to the thread; the checkpoint written."""
    if checkpoint_id:
        found = await engine.threads.get_state(graph, thread_id, checkpoint_id=checkpoint_id)
        if found.metadata is None:
            raise _missing(checkpoint_id, thread_id)
    written = await engine.threads.update_state(
        graph, thread_id, supersteps, checkpoint_id=checkpoint_id
    )
    return m.Checkpoint(
        thread_id=written.get("thread_id", thread_id),
        checkpoint_ns=written.get("checkpoint_ns", ""),
        checkpoint_id=written.get("checkpoint_id"),
        checkpoint_map=written.get("checkpoint_map"),
    )


async def update_state(request: Request, body: t.StateUpdateRequest) -> Response:
    """``POST /threads/{thread_id}/state``: write values as `as_node` (LangGraph's
    ``aupdate_state``); answers the checkpoint written."""
    record = await thread_record(request, request.path_params["thread_id"])
    ref = body.checkpoint
    if ref is not None and ref.checkpoint_ns:
        raise ApiError(422, "checkpoint.checkpoint_ns: a subgraph's state cannot be updated "
                       "here; update the thread's own state")  # fmt: skip
    checkpoint_id = body.checkpoint_id or (ref.checkpoint_id if ref is not None else None)
    graph = writable_graph(request, record)
    schema = state_schema(request, graph)
    values = None if body.values is None else schema.check_update(body.values, "values")
    as_node = schema.check_as_node(body.as_node)
    async with runs_of(request).locks.hold(record.thread_id):
        written = await apply_updates(engine_of(request), graph, record.thread_id,
                                      [[(values, as_node)]], checkpoint_id)  # fmt: skip
    return JSON(t.StateUpdated(checkpoint=written))
