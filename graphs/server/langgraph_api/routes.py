"""The subset of LangGraph's server API that `langgraph_sdk.get_client(url=...)` uses.

Mount it beside the engine's own routes (the Engine is read from
``request.app.state.engine``; runs are tracked by a `RunManager` created on first use):

    Starlette(routes=[*own_routes, *sdk_routes()], lifespan=...)

Each registered graph is an assistant (``assistant_id`` is a uuid5 of its name; the name
itself is accepted too). Served: assistants search/get; threads create/get/search,
state, history; runs ``wait`` and ``stream`` (modes ``values`` and ``updates``, in the
SDK's server-sent events: ``metadata`` first, then one event per chunk named by its
mode, ``error`` on failure), stateless (``/runs/...``) and on a thread; background
``create``, ``get``, ``list``, ``join``, ``cancel``; resuming an interrupt with
``command={"resume": ...}``. Errors answer ``{"detail": ...}``: 404 unknown assistant,
thread or run; 409 a thread already exists or is busy (``multitask_strategy`` 'reject',
the default; 'enqueue' queues, 'interrupt' and 'rollback' cancel the running run, which
keeps its completed supersteps); 422 bad input; 503 the checkpoint store is down.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from langgraph.types import Interrupt, StateSnapshot
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from graphs.durable.errors import (
    CheckpointStoreError,
    ThreadBusyError,
    ThreadExistsError,
    UnknownThreadError,
)
from graphs.durable.threads import ThreadRecord
from graphs.engine.engine import Engine
from graphs.engine.errors import GraphError, InvalidInputError, UnknownGraphError
from graphs.server.langgraph_api.runs import RunManager, RunRecord

logger = logging.getLogger(__name__)

ASSISTANT_NS = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
EPOCH = "2025-01-01T00:00:00+00:00"
MAX_BODY_BYTES = 1024 * 1024
MAX_LIMIT = 1000


class ApiError(Exception):
    """An HTTP error answer: status and detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _encode(value: Any) -> Any:
    if isinstance(value, Interrupt):
        return {"value": value.value, "id": value.id}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dumps(value: Any) -> str:
    """JSON text of `value` (dates, decimals, interrupts, numpy values included)."""
    return json.dumps(value, default=_encode, ensure_ascii=False, separators=(",", ":"))


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def assistant_id_of(graph: str) -> str:
    """The stable assistant id of graph `graph`."""
    return str(uuid.uuid5(ASSISTANT_NS, graph))


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _runs(request: Request) -> RunManager:
    state = request.app.state
    manager: RunManager | None = getattr(state, "sdk_runs", None)
    if manager is None or manager.engine is not _engine(request):
        manager = state.sdk_runs = RunManager(_engine(request))
    return manager


def _graph_of(engine: Engine, assistant_id: str) -> str:
    for name in engine.graph_names():
        if assistant_id in (name, assistant_id_of(name)):
            return name
    raise ApiError(404, f"assistant {assistant_id!r} not found")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(422, f"request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(422, "request body must be a JSON object")
    return body


def _limit(value: Any, default: int = 10) -> int:
    try:
        return max(0, min(int(value if value is not None else default), MAX_LIMIT))
    except (TypeError, ValueError) as exc:
        raise ApiError(422, f"limit/offset must be integers, got {value!r}") from exc


def _assistant(engine: Engine, name: str) -> dict[str, Any]:
    spec = engine.spec(name)
    return {
        "assistant_id": assistant_id_of(name),
        "graph_id": name,
        "name": name,
        "description": spec.description,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system"},
        "version": 1,
        "created_at": EPOCH,
        "updated_at": EPOCH,
    }


def _checkpoint(config: Any) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    return {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map"),
    }


def _state(snapshot: StateSnapshot) -> dict[str, Any]:
    return {
        "values": snapshot.values,
        "next": list(snapshot.next),
        "checkpoint": _checkpoint(snapshot.config),
        "metadata": dict(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": _checkpoint(snapshot.parent_config),
        "tasks": [
            {
                "id": t.id,
                "name": t.name,
                "error": repr(t.error) if t.error else None,
                "interrupts": list(t.interrupts),
                "checkpoint": None,
                "state": None,
                "result": t.result,
            }
            for t in snapshot.tasks
        ],
        "interrupts": list(snapshot.interrupts),
    }


def _empty_state(thread_id: str) -> dict[str, Any]:
    return {
        "values": {},
        "next": [],
        "checkpoint": {
            "thread_id": thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": None,
            "checkpoint_map": None,
        },
        "metadata": {},
        "created_at": None,
        "parent_checkpoint": None,
        "tasks": [],
        "interrupts": [],
    }


async def _thread(request: Request, record: ThreadRecord) -> dict[str, Any]:
    engine, runs = _engine(request), _runs(request)
    values: Any = {}
    interrupts: dict[str, list[Any]] = {}
    status = "idle"
    if record.graph_id is not None:
        snapshot = await engine.get_state(record.graph_id, record.thread_id)
        values = snapshot.values
        for task in snapshot.tasks:
            if task.interrupts:
                interrupts[task.id] = list(task.interrupts)
        if interrupts:
            status = "interrupted"
    if record.thread_id in runs.last_error:
        status = "error"
    if record.thread_id in runs.active:
        status = "busy"
    return {
        "thread_id": record.thread_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "metadata": record.metadata,
        "status": status,
        "values": values,
        "interrupts": interrupts,
    }


async def _thread_record(request: Request, thread_id: str) -> ThreadRecord:
    engine = _engine(request)
    await engine.durable.ensure_ready()
    record = await engine.durable.threads.get(thread_id)
    if record is None:
        raise UnknownThreadError(thread_id)
    return record


def _run_json(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "thread_id": record.thread_id,
        "assistant_id": record.assistant_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "status": record.status,
        "metadata": record.metadata,
        "multitask_strategy": record.multitask_strategy,
        "kwargs": {},
    }


def _guarded(handler: Any) -> Any:
    """Map our errors to the status codes the SDK expects."""

    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except ApiError as exc:
            status, detail = exc.status, exc.detail
        except (UnknownThreadError, UnknownGraphError) as exc:
            status, detail = 404, str(exc)
        except (ThreadBusyError, ThreadExistsError) as exc:
            status, detail = 409, str(exc)
        except InvalidInputError as exc:
            status, detail = 422, str(exc)
        except CheckpointStoreError as exc:
            status, detail = 503, str(exc)
        except GraphError as exc:
            status, detail = 422, str(exc)
        return _JSON({"detail": detail}, status_code=status)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    endpoint.__doc__ = handler.__doc__
    return endpoint


# -- assistants ---------------------------------------------------------------------
async def search_assistants(request: Request) -> Response:
    """``POST /assistants/search``: the graphs, filtered by ``graph_id``/``name``."""
    body, engine = await _body(request), _engine(request)
    wanted = body.get("graph_id") or body.get("name")
    names = [n for n in engine.graph_names() if wanted in (None, n)]
    offset, limit = _limit(body.get("offset"), 0), _limit(body.get("limit"))
    return _JSON([_assistant(engine, n) for n in names[offset : offset + limit]])


async def get_assistant(request: Request) -> Response:
    """``GET /assistants/{assistant_id}``."""
    engine = _engine(request)
    return _JSON(_assistant(engine, _graph_of(engine, request.path_params["assistant_id"])))


# -- threads ------------------------------------------------------------------------
async def create_thread(request: Request) -> Response:
    """``POST /threads``: a new thread (409 if ``thread_id`` exists, unless do_nothing)."""
    body, engine = await _body(request), _engine(request)
    if_exists = body.get("if_exists") or "raise"
    if if_exists not in ("raise", "do_nothing"):
        raise ApiError(422, f"if_exists must be 'raise' or 'do_nothing', got {if_exists!r}")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ApiError(422, "metadata must be an object")
    await engine.durable.ensure_ready()
    record = await engine.durable.threads.create(
        body.get("thread_id"), metadata, if_exists="raise" if if_exists == "raise" else "do_nothing"
    )
    return _JSON(await _thread(request, record))


async def get_thread(request: Request) -> Response:
    """``GET /threads/{thread_id}``."""
    record = await _thread_record(request, request.path_params["thread_id"])
    return _JSON(await _thread(request, record))


async def search_threads(request: Request) -> Response:
    """``POST /threads/search``: threads, most recently updated first."""
    body, engine = await _body(request), _engine(request)
    await engine.durable.ensure_ready()
    records = await engine.durable.threads.search(
        _limit(body.get("limit")), _limit(body.get("offset"), 0)
    )
    return _JSON([await _thread(request, r) for r in records])


async def thread_state(request: Request) -> Response:
    """``GET /threads/{thread_id}/state``: the latest checkpoint."""
    record = await _thread_record(request, request.path_params["thread_id"])
    if record.graph_id is None:
        return _JSON(_empty_state(record.thread_id))
    snapshot = await _engine(request).get_state(record.graph_id, record.thread_id)
    return _JSON(_state(snapshot))


async def thread_history(request: Request) -> Response:
    """``POST /threads/{thread_id}/history``: checkpoints, newest first."""
    body = await _body(request)
    record = await _thread_record(request, request.path_params["thread_id"])
    if record.graph_id is None:
        return _JSON([])
    history = await _engine(request).get_state_history(
        record.graph_id, record.thread_id, limit=_limit(body.get("limit"))
    )
    return _JSON([_state(s) for s in history])


# -- runs ---------------------------------------------------------------------------
async def _start(request: Request, *, subscribe: bool) -> tuple[RunRecord, Any]:
    body, engine = await _body(request), _engine(request)
    assistant_id = body.get("assistant_id")
    if not isinstance(assistant_id, str):
        raise ApiError(422, "assistant_id is required")
    graph = _graph_of(engine, assistant_id)
    thread_id = request.path_params.get("thread_id")
    return await _runs(request).start(graph, assistant_id, thread_id, body, subscribe=subscribe)


async def wait_run(request: Request) -> Response:
    """``POST /runs/wait`` and ``POST /threads/{thread_id}/runs/wait``: the final values."""
    record, _ = await _start(request, subscribe=False)
    await record.done.wait()
    return _JSON(record.outcome(), headers={"Content-Location": _location(record)})


async def stream_run(request: Request) -> Response:
    """``POST /runs/stream`` and ``POST /threads/{thread_id}/runs/stream``: SSE chunks."""
    record, queue = await _start(request, subscribe=True)
    runs = _runs(request)

    async def events() -> AsyncIterator[str]:
        try:
            yield _sse("metadata", {"run_id": record.run_id, "attempt": 1})
            async for mode, chunk in runs.events(queue):
                yield _sse(mode, chunk)
        finally:
            if not record.done.is_set():  # the client went away: stop its run
                await runs.cancel(record, wait=False)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "Content-Location": _location(record)},
    )


async def create_run(request: Request) -> Response:
    """``POST /threads/{thread_id}/runs``: a background run; answers the pending run."""
    record, _ = await _start(request, subscribe=False)
    return _JSON(_run_json(record), headers={"Content-Location": _location(record)})


def _run(request: Request) -> RunRecord:
    thread_id, run_id = request.path_params["thread_id"], request.path_params["run_id"]
    record = _runs(request).get(thread_id, run_id)
    if record is None:
        raise ApiError(404, f"run {run_id!r} not found on thread {thread_id!r}")
    return record


async def get_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}``."""
    return _JSON(_run_json(_run(request)))


async def list_runs(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs``: this process's runs of the thread, newest first."""
    await _thread_record(request, request.path_params["thread_id"])
    q = request.query_params
    runs = _runs(request).list(
        request.path_params["thread_id"], _limit(q.get("limit")), _limit(q.get("offset"), 0)
    )
    return _JSON([_run_json(r) for r in runs])


async def join_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}/join``: wait, then the final values."""
    record = _run(request)
    await record.done.wait()
    return _JSON(record.outcome())


async def cancel_run(request: Request) -> Response:
    """``POST /threads/{thread_id}/runs/{run_id}/cancel?wait=0|1``."""
    record = _run(request)
    wait = request.query_params.get("wait", "0") in ("1", "true", "True")
    await _runs(request).cancel(record, wait=wait)
    return Response(status_code=204 if not wait else 200)


def _location(record: RunRecord) -> str:
    if record.thread_id is None:
        return f"/runs/{record.run_id}"
    return f"/threads/{record.thread_id}/runs/{record.run_id}"


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {dumps(data)}\n\n"


def sdk_routes() -> list[BaseRoute]:
    """The LangGraph SDK API routes; the app must set ``app.state.engine`` (open)."""
    table: list[tuple[str, Any, str]] = [
        ("/assistants/search", search_assistants, "POST"),
        ("/assistants/{assistant_id}", get_assistant, "GET"),
        ("/threads", create_thread, "POST"),
        ("/threads/search", search_threads, "POST"),
        ("/threads/{thread_id}", get_thread, "GET"),
        ("/threads/{thread_id}/state", thread_state, "GET"),
        ("/threads/{thread_id}/history", thread_history, "POST"),
        ("/runs/wait", wait_run, "POST"),
        ("/runs/stream", stream_run, "POST"),
        ("/threads/{thread_id}/runs", create_run, "POST"),
        ("/threads/{thread_id}/runs", list_runs, "GET"),
        ("/threads/{thread_id}/runs/wait", wait_run, "POST"),
        ("/threads/{thread_id}/runs/stream", stream_run, "POST"),
        ("/threads/{thread_id}/runs/{run_id}", get_run, "GET"),
        ("/threads/{thread_id}/runs/{run_id}/join", join_run, "GET"),
        ("/threads/{thread_id}/runs/{run_id}/cancel", cancel_run, "POST"),
    ]
    return [Route(path, _guarded(fn), methods=[method]) for path, fn, method in table]
