"""The LangGraph API's routes that start runs: wait, stream, background create (on a
thread or without one) and batch; the routes that read and stop runs are
`.run_read_routes`, mounted with these by `run_routes`.

Runs execute in the app's `RunManager` (`.runs`), admitted like every run of the service
(quotas, queue bound, request timeout); how a run executes is its `.run_plan.RunPlan`
(stream modes, subgraphs, interrupts, checkpoint, context, webhook ...), every field of
the body either honoured or refused with a 422 naming it. A stream's run is cancelled
when its client leaves (``on_disconnect='cancel'``, the default), or goes on
(``'continue'``; the default of a ``stream_resumable`` run, whose stream then carries a
``Location`` the SDK rejoins with ``Last-Event-ID``). ``wait`` waits at most the request
timeout plus a margin (504 after: join); with ``on_disconnect='cancel'`` its run
stops when its client leaves (by default it goes on: the SDK rejoins it). A run without
a thread is named by a thread id of its own (``/threads/{id}/runs/{run_id}`` reads it).
``POST /runs/batch`` starts every run or none (an error names the item: ``runs[2]: ...``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import run_control
from graphs.server.langgraph_api import run_models as rm
from graphs.server.langgraph_api.assistants import assistant_settings, run_config
from graphs.server.langgraph_api.endpoint import (
    BODY_ERRORS,
    TAG,
    answers,
    engine_of,
    runs_of,
    sdk_route,
)
from graphs.server.langgraph_api.errors import ApiError, api_error
from graphs.server.langgraph_api.event_log import LogReader
from graphs.server.langgraph_api.execution import RunExecution
from graphs.server.langgraph_api.run_read_routes import finished, location, read_routes, wait_s
from graphs.server.langgraph_api.views import run_of
from graphs.server.openapi import Answer, Operation
from graphs.server.sse import event_stream

RUN_ERRORS = (404, 409, *BODY_ERRORS, 429, 503)
SHUTDOWN_GRACE_S = 30.0
"""How long an open stream may go on once the server shuts down (when the app does not
say: ``app.state.config.shutdown_grace_s``)."""
async def _start(
    request: Request, body: rm.RunCreate, thread_id: str | None, *, subscribe: bool
) -> tuple[RunExecution, LogReader | None]:
    caller = caller_of(request)
    assistant = await assistant_settings(engine_of(request), body.assistant_id, caller)
    config = run_config(assistant.config, body.config)
    return await runs_of(request).start(
        caller, assistant.graph, assistant.assistant_id, thread_id, body,
        subscribe=subscribe, config=config,
    )  # fmt: skip


async def wait_run(request: Request, body: rm.RunCreate) -> Response:
    """``POST /runs/wait`` and ``POST /threads/{thread_id}/runs/wait``: the final values."""
    run, _ = await _start(request, body, request.path_params.get("thread_id"), subscribe=False)
    watch = request if body.on_disconnect == "cancel" else None
    await finished(run, wait_s(request), watch)
    return JSON(run.outcome(), headers=location(run.record))


async def stream_run(request: Request, body: rm.RunCreate) -> Response:
    """``POST /runs/stream`` and ``POST /threads/{thread_id}/runs/stream``: the run's
    events, each with its id."""
    run, reader = await _start(request, body, request.path_params.get("thread_id"),
                               subscribe=True)  # fmt: skip
    assert reader is not None
    runs = runs_of(request)

    async def events() -> AsyncIterator[tuple[str, Any, str]]:
        async for seq, event, data in reader:
            yield event, data, str(seq)

    def on_close() -> None:
        reader.close()
        if run.plan.on_disconnect == "cancel" and not run.done.is_set():
            runs.stop(run)  # the client went away before the run ended

    headers = location(run.record)
    if run.plan.resumable:
        headers["Location"] = f"{headers['Content-Location']}/stream"
    config = getattr(request.app.state, "config", None)
    grace_s = config.shutdown_grace_s if config is not None else SHUTDOWN_GRACE_S
    return event_stream(events(), on_close=on_close, headers=headers, grace_s=grace_s)


async def create_run(request: Request, body: rm.RunCreate) -> Response:
    """``POST /runs`` and ``POST /threads/{thread_id}/runs``: a background run; answers
    the pending run."""
    run, _ = await _start(request, body, request.path_params.get("thread_id"), subscribe=False)
    return JSON(run_of(run.record), headers=location(run.record))


async def create_batch(request: Request, body: rm.RunBatch) -> Response:
    """``POST /runs/batch``: background runs, all started or none (the ones already
    started are rolled back when one cannot start; the error names its item)."""
    started: list[RunExecution] = []
    for index, item in enumerate(body.root):
        try:
            run, _ = await _start(request, item, item.thread_id, subscribe=False)
        except Exception as exc:
            manager = runs_of(request)
            for done in started:
                with contextlib.suppress(Exception):
                    await run_control.roll_back(manager, done)
            error = api_error(exc)
            if error is None:
                raise
            raise ApiError(error.status, f"runs[{index}]: {error.detail}", error.headers) from exc
        started.append(run)
    return JSON([run_of(run.record) for run in started])


def run_routes() -> list[BaseRoute]:
    """The run routes of the LangGraph API (these and `.run_read_routes`)."""
    waited = Answer("The run's final values (or its error).", rm.RunOutcome)
    streamed = Answer("Server-sent events; the schema describes one event.", rm.StreamPart,
                      media_type="text/event-stream")  # fmt: skip
    run, runs = Answer("The run.", rm.Run), Answer("The runs.", rm.Run, many=True)
    return [
        sdk_route("/runs", "POST", create_run, Operation(
            "sdk_create_stateless_run", "Start a background run without a thread", TAG,
            answers({200: run}, *RUN_ERRORS), body=rm.RunCreate,
        )),
        sdk_route("/runs/batch", "POST", create_batch, Operation(
            "sdk_create_run_batch", "Start background runs (all or none)", TAG,
            answers({200: runs}, *RUN_ERRORS), body=rm.RunBatch,
            body_description="A JSON array of 1 to 100 runs (an empty body is refused).",
        )),
        sdk_route("/runs/wait", "POST", wait_run, Operation(
            "sdk_wait_stateless", "Run without a thread; wait", TAG,
            answers({200: waited}, *RUN_ERRORS, 504), body=rm.RunCreate,
        )),
        sdk_route("/runs/stream", "POST", stream_run, Operation(
            "sdk_stream_stateless", "Run without a thread; stream", TAG,
            answers({200: streamed}, *RUN_ERRORS), body=rm.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs", "POST", create_run, Operation(
            "sdk_create_run", "Start a background run", TAG,
            answers({200: run}, *RUN_ERRORS), body=rm.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs/wait", "POST", wait_run, Operation(
            "sdk_wait_run", "Run on the thread; wait", TAG,
            answers({200: waited}, *RUN_ERRORS, 504), body=rm.RunCreate,
        )),
        sdk_route("/threads/{thread_id}/runs/stream", "POST", stream_run, Operation(
            "sdk_stream_run", "Run on the thread; stream", TAG,
            answers({200: streamed}, *RUN_ERRORS), body=rm.RunCreate,
        )),
        *read_routes(),
    ]  # fmt: skip
