"""The LangGraph API's run routes: wait, stream, background create, get, list, join, cancel.

Runs execute in the app's `RunManager` (`.runs`); a stream whose client goes away stops
its run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api.assistants import assistant_settings, run_config
from graphs.server.langgraph_api.endpoint import (
    TAG,
    answers,
    engine_of,
    runs_of,
    sdk_route,
    thread_record,
)
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.runs import RunExecution
from graphs.server.langgraph_api.views import run_of
from graphs.server.openapi import Answer, Operation
from graphs.server.sse import event_stream

RUN_ERRORS = (404, 409, 413, 422, 503)
SHUTDOWN_GRACE_S = 30.0
"""How long an open stream may go on once the server shuts down (when the app does not
say: ``app.state.config.shutdown_grace_s``)."""


async def _start(
    request: Request, body: m.RunCreate, *, subscribe: bool
) -> tuple[RunExecution, Any]:
    assistant = await assistant_settings(engine_of(request), body.assistant_id, caller_of(request))
    thread_id = request.path_params.get("thread_id")
    config = run_config(assistant.config, body.config)
    return await runs_of(request).start(
        assistant.graph, assistant.assistant_id, thread_id, body, subscribe=subscribe,
        config=config,
    )


def _location(run: RunExecution) -> dict[str, str]:
    record = run.record
    if record.thread_id is None:
        return {"Content-Location": f"/runs/{record.run_id}"}
    return {"Content-Location": f"/threads/{record.thread_id}/runs/{record.run_id}"}


async def wait_run(request: Request, body: m.RunCreate) -> Response:
    """``POST /runs/wait`` and ``POST /threads/{thread_id}/runs/wait``: the final values."""
    run, _ = await _start(request, body, subscribe=False)
    await run.done.wait()
    return JSON(run.outcome(), headers=_location(run))


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
    return event_stream(events(), on_close=stop_if_running, headers=_location(run),
                        grace_s=grace_s)  # fmt: skip


async def create_run(request: Request, body: m.RunCreate) -> Response:
    """``POST /threads/{thread_id}/runs``: a background run; answers the pending run."""
    run, _ = await _start(request, body, subscribe=False)
    return JSON(run_of(run), headers=_location(run))


def _run(request: Request) -> RunExecution:
    thread_id, run_id = request.path_params["thread_id"], request.path_params["run_id"]
    run = runs_of(request).get(thread_id, run_id)
    if run is None:
        raise ApiError(404, f"run {run_id!r} not found on thread {thread_id!r}")
    return run


async def get_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}``."""
    return JSON(run_of(_run(request)))


async def list_runs(request: Request, query: m.RunListQuery) -> Response:
    """``GET /threads/{thread_id}/runs``: this process's runs of the thread, newest first."""
    thread_id = request.path_params["thread_id"]
    await thread_record(request, thread_id)
    runs = runs_of(request).list(thread_id, query.limit, query.offset)
    return JSON([run_of(r) for r in runs])


async def join_run(request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}/join``: wait, then the final values."""
    run = _run(request)
    await run.done.wait()
    return JSON(run.outcome())


async def cancel_run(request: Request, query: m.CancelQuery) -> Response:
    """``POST /threads/{thread_id}/runs/{run_id}/cancel?wait=0|1``."""
    run = _run(request)
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
            answers({200: waited}, *RUN_ERRORS), body=m.RunCreate,
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
            "sdk_list_runs", "This process's runs of the thread", TAG,
            answers({200: runs}, 404, 422, 503), query=m.RunListQuery,
        )),
        sdk_route("/threads/{thread_id}/runs/wait", "POST", wait_run, Operation(
            "sdk_wait_run", "Run on the thread; wait", TAG,
            answers({200: waited}, *RUN_ERRORS), body=m.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs/stream", "POST", stream_run, Operation(
            "sdk_stream_run", "Run on the thread; stream", TAG,
            answers({200: streamed}, *RUN_ERRORS), body=m.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}", "GET", get_run, Operation(
            "sdk_get_run", "One run", TAG, answers({200: run}, 404),
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}/join", "GET", join_run, Operation(
            "sdk_join_run", "Wait for the run; its final values", TAG,
            answers({200: waited}, 404),
        )),
        sdk_route("/threads/{thread_id}/runs/{run_id}/cancel", "POST", cancel_run, Operation(
            "sdk_cancel_run", "Cancel the run (wait=1: until it stopped)", TAG,
            answers(cancelled, 404), query=m.CancelQuery,
        )),
    ]  # fmt: skip
