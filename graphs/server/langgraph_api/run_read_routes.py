"""The LangGraph API's routes that read, join, stop and delete runs: get, list (by
status, selected fields), join, join_stream, cancel, cancel many, delete.

A run is the caller's: another tenant's run is unknown (404). Runs are read from the run
table, so any process on the same database answers ``get``, ``list``, ``delete`` and (by
polling the table) ``join`` for a run another process executes; cancelling one needs the
process that executes it (409 elsewhere). ``join_stream`` follows the run's events
from its first (or after ``Last-Event-ID``) as long as this process keeps them (the
last `.runs.LOGS_KEPT` finished runs' and every running one's); a run it does not hold
streams its final values once it has ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.engine.run_record import RunRecord, RunStatus
from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import run_control
from graphs.server.langgraph_api import run_models as rm
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
from graphs.server.langgraph_api.stream_events import event_mode
from graphs.server.langgraph_api.views import run_of
from graphs.server.openapi import Answer, Operation
from graphs.server.sse import event_stream

WAIT_MARGIN_S = 5.0
POLL_S = 0.5
"""How often ``join`` reads the run table for a run another process executes."""
STATUSES: dict[str, tuple[RunStatus, ...]] = {
    "pending": ("pending",), "running": ("running",), "success": ("complete", "partial"),
    "error": ("failed",), "timeout": ("timeout",), "interrupted": ("interrupted", "cancelled"),
}  # fmt: skip
"""LangGraph's run status -> ours."""
LAST_EVENT_ID = "Last-Event-ID"


def wait_s(request: Request) -> float:
    """How long ``wait`` and ``join`` wait for a run: the request timeout and a margin."""
    config = getattr(request.app.state, "config", None)
    return (config.request_timeout_s if config is not None else 30.0) + WAIT_MARGIN_S


def location(record: RunRecord) -> dict[str, str]:
    """``Content-Location`` of a run (where the SDK reads its ids)."""
    return {"Content-Location": f"/threads/{record.thread_id}/runs/{record.run_id}"}


async def finished(run: RunExecution, wait_s: float, request: Request | None = None) -> None:
    """Wait for `run` to end (ApiError 504 after `wait_s`); given `request`, cancel the
    run when that request's client leaves first."""
    ended = asyncio.create_task(run.done.wait())
    waiting: set[asyncio.Task[Any]] = {ended}
    if request is not None:
        waiting.add(asyncio.create_task(_client_gone(request)))
    try:
        done, _ = await asyncio.wait(waiting, timeout=wait_s,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if run.done.is_set():
            return
        if done and request is not None:  # the client left (its run may be on a worker)
            runs_of(request).stop(run)
            raise ApiError(499, "the client left; its run was cancelled")
        raise ApiError(504, f"run {run.record.run_id} is still running after {wait_s:g}s; "
                       "join it again")  # fmt: skip
    finally:
        for task in waiting:
            task.cancel()


async def _client_gone(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _record(
    request: Request, *, follow: bool = True
) -> tuple[RunExecution | None, RunRecord]:
    """The caller's run of the path: this process's execution (if it runs here, or, with
    `follow`, a worker runs it) and its record; ApiError 404 when the caller has no such
    run on that thread."""
    thread_id, run_id = request.path_params["thread_id"], request.path_params["run_id"]
    caller = caller_of(request)
    manager = runs_of(request)
    run = manager.get(thread_id, run_id, caller.tenant)
    # A worker's run: its record is the table's (this process learns of its end later).
    record = run.record if run is not None and not run.remote else None
    if record is None:
        durable = engine_of(request).durable
        await durable.ensure_ready()
        record = await durable.runs.get(run_id, owner=caller.tenant)
        if record is not None and record.thread_id != thread_id:
            record = None
    if record is None:
        raise ApiError(404, f"run {run_id[:100]} not found on thread {thread_id[:100]}")
    may_use(caller, record.graph)
    if follow and run is None and manager.remote is not None:  # a worker runs it
        run = await manager.remote.attach(manager, record, caller.tenant)
    return run, record


async def get_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}``."""
    _, record = await _record(request, follow=False)
    return JSON(run_of(record))


async def list_runs(request: Request, query: rm.RunListQuery) -> Response:
    """``GET /threads/{thread_id}/runs``: the thread's runs, newest first (one query);
    ``status`` filters, ``select`` keeps only those fields."""
    record = await thread_record(request, request.path_params["thread_id"])
    runs = await engine_of(request).durable.runs.list(
        thread_id=record.thread_id, owner=caller_of(request).tenant,
        status=STATUSES[query.status] if query.status else None,
        limit=query.limit, offset=query.offset,
    )  # fmt: skip
    shown = [run_of(r).model_dump() for r in runs]
    if query.select:
        shown = [{k: v for k, v in run.items() if k in query.select} for run in shown]
    return JSON(shown)


async def _final_values(request: Request, record: RunRecord) -> Any:
    """What a run that ended elsewhere (or long ago) answers: its error, or its thread's
    values (a run without a thread keeps none)."""
    if record.status in ("failed", "timeout", "cancelled"):
        message = f"the run ended {record.status}; the server log has details"
        return {"__error__": {"error": record.status, "message": message}}
    if record.kwargs.get("temporary"):
        return {}
    thread = await thread_record(request, request.path_params["thread_id"])
    values = dict(thread.values or {})
    if thread.interrupts:
        values["__interrupt__"] = [i for items in thread.interrupts.values() for i in items]
    return values


async def _ended(request: Request, record: RunRecord) -> RunRecord:
    """`record` once its run (executing in another process) has ended; 504 after
    `wait_s`."""
    durable, owner = engine_of(request).durable, caller_of(request).tenant
    deadline = time.monotonic() + wait_s(request)
    while not record.finished:
        if time.monotonic() >= deadline:
            raise ApiError(504, f"run {record.run_id} is still running after "
                           f"{wait_s(request):g}s; join it again")  # fmt: skip
        await asyncio.sleep(POLL_S)
        record = await durable.runs.get(record.run_id, owner=owner) or record
    return record


async def join_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}/join``: wait, then the final values."""
    run, record = await _record(request)
    if run is not None:
        await finished(run, wait_s(request))
        return JSON(run.outcome())
    return JSON(await _final_values(request, await _ended(request, record)))


def _after(request: Request) -> int:
    raw = request.headers.get(LAST_EVENT_ID)
    if not raw or raw == "-1":
        return 0
    try:
        return max(0, int(raw))
    except ValueError:
        raise ApiError(422, f"{LAST_EVENT_ID}: not an event id of this server") from None


async def join_stream(request: Request, query: rm.JoinStreamQuery) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}/stream``: the run's events from its first
    (after ``Last-Event-ID``), then live until it ends (module docstring)."""
    run, record = await _record(request)
    own_modes = list(record.kwargs.get("stream_mode") or ["values"])
    extra = [m for m in query.stream_mode or () if m not in own_modes]
    if extra:
        raise ApiError(422, f"stream_mode: the run streams {own_modes}, not {extra}")
    modes = set(query.stream_mode or own_modes)
    after = _after(request)
    runs = runs_of(request)

    async def events() -> AsyncIterator[tuple[str, Any, str]]:
        if reader is not None and run is not None and (run.log.items or not run.done.is_set()):
            async for seq, event, data in reader:
                if event_mode(event) in modes or event_mode(event) is None:
                    yield event, data, str(seq)
            return
        final = await _ended(request, record)
        yield "metadata", {"run_id": final.run_id, "attempt": 1}, "1"
        values = await _final_values(request, final)
        if "__error__" in values:
            yield "error", values["__error__"], "2"
        elif "values" in modes:
            yield "values", values, "2"

    reader = run.log.reader(after) if run is not None else None

    def on_close() -> None:
        if reader is not None:
            reader.close()
        if query.cancels and run is not None and not run.done.is_set():
            runs.stop(run)

    return event_stream(events(), on_close=on_close, headers=location(record))


async def cancel_run(request: Request, query: rm.CancelQuery) -> Response:
    """``POST /threads/{thread_id}/runs/{run_id}/cancel?wait=0|1&action=interrupt|
    rollback``: 409 for a run that already ended or executes in another process."""
    run, record = await _record(request)
    if run is None or run.done.is_set():
        if record.finished or (run is not None and run.done.is_set()):
            raise ApiError(409, f"run {record.run_id} already ended ({run_of(record).status})")
        raise ApiError(409, f"run {record.run_id} executes in another process")
    manager = runs_of(request)
    if query.action == "rollback":
        await run_control.roll_back(manager, run)
    else:
        await manager.cancel(run, wait=query.waits)
    return Response(status_code=200 if query.waits or query.action == "rollback" else 204)


async def cancel_many(request: Request, body: rm.CancelMany, query: rm.CancelManyQuery) -> Response:
    """``POST /runs/cancel?action=interrupt|rollback``: the caller's unfinished runs of
    a thread, with those ids, and/or in that status (at least one is needed)."""
    if body.thread_id is None and not body.run_ids and body.status is None:
        raise ApiError(422, "give thread_id, run_ids or status (which runs to cancel)")
    manager = runs_of(request)
    doomed = await run_control.runs_to_cancel(
        manager, caller_of(request).tenant, thread_id=body.thread_id, run_ids=body.run_ids,
        status=body.status,
    )  # fmt: skip
    for run in doomed:
        may_use(caller_of(request), run.record.graph)
    for run in doomed:
        if query.action == "rollback":
            await run_control.roll_back(manager, run)
        else:
            await manager.cancel(run)
    return Response(status_code=204)


async def delete_run(request: Request) -> Response:
    """``DELETE /threads/{thread_id}/runs/{run_id}``: a run that ended (409 while it is
    pending or running); its thread's checkpoints stay."""
    run, record = await _record(request, follow=False)
    if not record.finished or (run is not None and not run.done.is_set()):
        raise ApiError(409, f"run {record.run_id} is {record.status}: cancel it first")
    await engine_of(request).durable.runs.delete(record.run_id, owner=caller_of(request).tenant)
    if run is not None:
        runs_of(request).forget(run)
    return Response(status_code=204)


def read_routes() -> list[BaseRoute]:
    """The routes that read, join, stop and delete runs."""
    waited = Answer("The run's final values (or its error).", rm.RunOutcome)
    streamed = Answer("Server-sent events; the schema describes one event.", rm.StreamPart,
                      media_type="text/event-stream")  # fmt: skip
    run = Answer("The run.", rm.Run)
    runs = Answer("The runs (only the fields `select` names).", rm.SelectedRun, many=True)
    cancelled = {200: Answer("Cancelled and stopped (wait=1, or rolled back)."),
                 204: Answer("Cancellation requested.")}  # fmt: skip
    last_event = {LAST_EVENT_ID: "Stream the events after this one (an event's id)."}
    return [
        sdk_route("/threads/{thread_id}/runs", "GET", list_runs, Operation(
            "sdk_list_runs", "The thread's runs, newest first", TAG,
            answers({200: runs}, 404, 422, 503), query=rm.RunListQuery,
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}", "GET", get_run, Operation(
            "sdk_get_run", "One run", TAG, answers({200: run}, 404, 503),
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}", "DELETE", delete_run, Operation(
            "sdk_delete_run", "Delete a run that ended", TAG,
            answers({204: Answer("Deleted.")}, 404, 409, 503),
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}/join", "GET", join_run, Operation(
            "sdk_join_run", "Wait for the run; its final values", TAG,
            answers({200: waited}, 404, 503, 504),
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}/stream", "GET", join_stream, Operation(
            "sdk_join_run_stream", "The run's events, then live until it ends", TAG,
            answers({200: streamed}, 404, 422, 503, 504), query=rm.JoinStreamQuery,
            headers=last_event,
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}/cancel", "POST", cancel_run, Operation(
            "sdk_cancel_run", "Cancel the run (wait=1: until it stopped)", TAG,
            answers(cancelled, 404, 409, 422, 503), query=rm.CancelQuery,
        )),
        sdk_route("/runs/cancel", "POST", cancel_many, Operation(
            "sdk_cancel_runs", "Cancel the caller's runs by thread, ids or status", TAG,
            answers({204: Answer("Cancelled.")}, 404, 409, *BODY_ERRORS, 503),
            body=rm.CancelMany, query=rm.CancelManyQuery,
        )),
    ]  # fmt: skip
