"""The LangGraph API's run routes: wait, stream, background create, get, list, join, cancel.

Runs execute in the app's `RunManager` (`.runs`), admitted like every run of the service
(quotas, queue bound, request timeout); a stream whose client goes away stops its run.
``wait`` and ``join`` wait at most the request timeout plus `WAIT_MARGIN_S` (504 after:
join again). A run is the caller's: another tenant's run is unknown (404). Runs are read
from the run table, so any process on the same database answers ``get``, ``list`` and
(by polling the table) ``join`` for a run another process executes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.engine.run_record import RunRecord
from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api.assistants import assistant_settings, run_config
from graphs.server.langgraph_api.endpoint import (
    BODY_ERRORS,
    TAG,
    answers,
    engine_of,
    may_use,
    runs_of,
    sdk_route,
    thread_record,
)
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.execution import RunExecution
from graphs.server.langgraph_api.views import run_of
from graphs.server.openapi import Answer, Operation
from graphs.server.sse import event_stream

RUN_ERRORS = (404, 409, *BODY_ERRORS, 429, 503)
SHUTDOWN_GRACE_S = 30.0
"""How long an open stream may go on once the server shuts down (when the app does not
say: ``app.state.config.shutdown_grace_s``)."""
WAIT_MARGIN_S = 5.0
POLL_S = 0.5
"""How often ``join`` reads the run table for a run another process executes."""


def _wait_s(request: Request) -> float:
    config = getattr(request.app.state, "config", None)
    return (config.request_timeout_s if config is not None else 30.0) + WAIT_MARGIN_S


async def _start(
    request: Request, body: m.RunCreate, *, subscribe: bool
) -> tuple[RunExecution, Any]:
    caller = caller_of(request)
    assistant = await assistant_settings(engine_of(request), body.assistant_id, caller)
    thread_id = request.path_params.get("thread_id")
    config = run_config(assistant.config, body.config)
    return await runs_of(request).start(
        caller, assistant.graph, assistant.assistant_id, thread_id, body,
        subscribe=subscribe, config=config,
    )


def _location(record: RunRecord) -> dict[str, str]:
    if record.thread_id is None:
        return {"Content-Location": f"/runs/{record.run_id}"}
    return {"Content-Location": f"/threads/{record.thread_id}/runs/{record.run_id}"}


async def _finished(run: RunExecution, wait_s: float) -> None:
    try:
        async with asyncio.timeout(wait_s):
            await run.done.wait()
    except TimeoutError:
        raise ApiError(
            504, f"run {run.record.run_id} is still running after {wait_s:g}s; join it again"
        ) from None


async def wait_run(request: Request, body: m.RunCreate) -> Response:
    """``POST /runs/wait`` and ``POST /threads/{thread_id}/runs/wait``: the final values."""
    run, _ = await _start(request, body, subscribe=False)
    await _finished(run, _wait_s(request))
    return JSON(run.outcome(), headers=_location(run.record))


async def stream_run(request: Request, body: m.RunCreate) -> Response:
    """``POST /runs/stream`` and ``POST /threads/{thread_id}/runs/stream``: SSE chunks."""
    run, queue = await _start(request, body, subscribe=True)
    runs = runs_of(request)

    async def events() -> AsyncIterator[tuple[str, Any]]:
        yield "metadata", {"run_id": run.record.run_id, "attempt": 1}
        async for mode, chunk in runs.events(queue):
            yield mode, chunk

    def stop_if_running() -> None:  # the client went away before the run ended
        if not run.done.is_set():
            runs.stop(run)

    config = getattr(request.app.state, "config", None)
    grace_s = config.shutdown_grace_s if config is not None else SHUTDOWN_GRACE_S
    return event_stream(events(), on_close=stop_if_running, headers=_location(run.record),
                        grace_s=grace_s)  # fmt: skip


async def create_run(request: Request, body: m.RunCreate) -> Response:
    """``POST /threads/{thread_id}/runs``: a background run; answers the pending run."""
    run, _ = await _start(request, body, subscribe=False)
    return JSON(run_of(run.record), headers=_location(run.record))


async def _record(request: Request) -> tuple[RunExecution | None, RunRecord]:
    """The caller's run of the path: this process's execution (if it runs here) and its
    record; ApiError 404 when the caller has no such run on that thread."""
    thread_id, run_id = request.path_params["thread_id"], request.path_params["run_id"]
    caller = caller_of(request)
    run = runs_of(request).get(thread_id, run_id, caller.tenant)
    record = run.record if run is not None else None
    if record is None:
        durable = engine_of(request).durable
        await durable.ensure_ready()
        record = await durable.runs.get(run_id, owner=caller.tenant)
        if record is not None and record.thread_id != thread_id:
            record = None
    if record is None:
        raise ApiError(404, f"run {run_id[:100]} not found on thread {thread_id[:100]}")
    may_use(caller, record.graph)
    return run, record


async def get_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}``."""
    _, record = await _record(request)
    return JSON(run_of(record))


async def list_runs(request: Request, query: m.RunListQuery) -> Response:
    """``GET /threads/{thread_id}/runs``: the thread's runs, newest first (one query)."""
    record = await thread_record(request, request.path_params["thread_id"])
    runs = await engine_of(request).durable.runs.list(
        thread_id=record.thread_id, owner=caller_of(request).tenant,
        limit=query.limit, offset=query.offset,
    )  # fmt: skip
    return JSON([run_of(r) for r in runs])


async def join_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}/join``: wait, then the final values."""
    run, record = await _record(request)
    wait_s = _wait_s(request)
    if run is not None:
        await _finished(run, wait_s)
        return JSON(run.outcome())
    # Another process executes it: read its record until it ends.
    durable, owner = engine_of(request).durable, caller_of(request).tenant
    deadline = time.monotonic() + wait_s
    while not record.finished:
        if time.monotonic() >= deadline:
            raise ApiError(504, f"run {record.run_id} is still running after {wait_s:g}s; "
                           "join it again")  # fmt: skip
        await asyncio.sleep(POLL_S)
        record = await durable.runs.get(record.run_id, owner=owner) or record
    if record.status in ("failed", "timeout", "cancelled"):
        message = f"the run ended {record.status}; the server log has details"
        return JSON({"__error__": {"error": record.status, "message": message}})
    thread = await thread_record(request, request.path_params["thread_id"])
    values = dict(thread.values or {})
    if thread.interrupts:
        values["__interrupt__"] = [i for items in thread.interrupts.values() for i in items]
    return JSON(values)


async def cancel_run(request: Request, query: m.CancelQuery) -> Response:
    """``POST /threads/{thread_id}/runs/{run_id}/cancel?wait=0|1``."""
    run, record = await _record(request)
    if run is None:
        if not record.finished:
            raise ApiError(409, f"run {record.run_id} executes in another process")
    else:
        await runs_of(request).cancel(run, wait=query.waits)
    return Response(status_code=200 if query.waits else 204)


def run_routes() -> list[BaseRoute]:
    """The run routes of the LangGraph API."""
    waited = Answer("The run's final values (or its error).", m.RunOutcome)
    streamed = Answer("Server-sent events; the schema describes one event.", m.StreamPart,
                      media_type="text/event-stream")  # fmt: skip
    run, runs = Answer("The run.", m.Run), Answer("The runs.", m.Run, many=True)
    cancelled = {200: Answer("Cancelled and stopped (wait=1)."),
                 204: Answer("Cancellation requested.")}  # fmt: skip
    return [
        sdk_route("/runs/wait", "POST", wait_run, Operation(
            "sdk_wait_stateless", "Run without a thread; wait", TAG,
            answers({200: waited}, *RUN_ERRORS, 504), body=m.RunCreate,
        )),
        sdk_route("/runs/stream", "POST", stream_run, Operation(
            "sdk_stream_stateless", "Run without a thread; stream", TAG,
            answers({200: streamed}, *RUN_ERRORS), body=m.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs", "POST", create_run, Operation(
            "sdk_create_run", "Start a background run", TAG,
            answers({200: run}, *RUN_ERRORS), body=m.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs", "GET", list_runs, Operation(
            "sdk_list_runs", "The thread's runs, newest first", TAG,
            answers({200: runs}, 404, 422, 503), query=m.RunListQuery,
        )),
        sdk_route("/threads/{thread_id}/runs/wait", "POST", wait_run, Operation(
            "sdk_wait_run", "Run on the thread; wait", TAG,
            answers({200: waited}, *RUN_ERRORS, 504), body=m.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs/stream", "POST", stream_run, Operation(
            "sdk_stream_run", "Run on the thread; stream", TAG,
            answers({200: streamed}, *RUN_ERRORS), body=m.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}", "GET", get_run, Operation(
            "sdk_get_run", "One run", TAG, answers({200: run}, 404, 503),
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}/join", "GET", join_run, Operation(
            "sdk_join_run", "Wait for the run; its final values", TAG,
            answers({200: waited}, 404, 503, 504),
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}/cancel", "POST", cancel_run, Operation(
            "sdk_cancel_run", "Cancel the run (wait=1: until it stopped)", TAG,
            answers(cancelled, 404, 409, 503), query=m.CancelQuery,
        )),
    ]  # fmt: skip
