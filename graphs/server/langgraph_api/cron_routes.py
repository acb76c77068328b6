"""The LangGraph API's cron routes: create (with or without a thread), get, update,
search, count, delete. `graphs.server.langgraph_api.cron_scheduler` fires them.

As LangGraph's server: a create answers the cron (its ``next_run_date`` the schedule's
next time after now); a cron without a thread runs without one each time unless
``on_run_completed='keep'``; a thread's cron queues behind a busy thread by default;
``end_time`` stops it; a cron belongs to the caller's tenant (another's is a 404) and
its runs to the same tenant. The input is checked against the graph when the cron is
made, so a cron never fires a run that is bound to be refused.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.durable.assistants import contains
from graphs.durable.crons import CronRecord
from graphs.durable.errors import UnknownThreadError
from graphs.server.caller import Caller, caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import cron_models as cm
from graphs.server.langgraph_api.assistant_models import Count
from graphs.server.langgraph_api.assistants import (
    config_and_context,
    find_assistant,
    system_graph,
)
from graphs.server.langgraph_api.cron_scheduler import next_time
from graphs.server.langgraph_api.endpoint import TAG, engine_of, sdk_route
from graphs.server.langgraph_api.errors import ApiError, Detail
from graphs.server.langgraph_api.listing import page, sort_rows, writer
from graphs.server.langgraph_api.views import assistant_id_of
from graphs.server.openapi import Answer, Operation


def _iso(epoch_s: int | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).isoformat()


def _end(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def view(cron: CronRecord) -> dict[str, Any]:
    """A cron as the API answers it."""
    return cm.Cron(
        cron_id=cron.cron_id, assistant_id=cron.assistant_id, thread_id=cron.thread_id,
        on_run_completed=cron.on_run_completed, end_time=cron.end_time,
        schedule=cron.schedule, timezone=cron.timezone, created_at=cron.created_at,
        updated_at=cron.updated_at, payload=cron.payload, user_id=cron.user_id,
        next_run_date=_iso(cron.next_run_at), metadata=cron.metadata, enabled=cron.enabled,
    ).model_dump()  # fmt: skip


def _payload(body: cm.CronCreate | cm.CronPatch, cron_id: str) -> dict[str, Any]:
    """The run fields a cron keeps (LangGraph's payload: config.configurable.cron_id)."""
    config, _ = config_and_context(body.config, body.context)
    config["configurable"] = {**config.get("configurable", {}), "cron_id": cron_id}
    out: dict[str, Any] = {"config": config}
    for name in ("input", "metadata", "stream_mode", "multitask_strategy"):
        value = getattr(body, name, None)
        if value is not None:
            out[name] = value
    return out


async def _create(request: Request, body: cm.CronCreate, thread_id: str | None) -> Response:
    caller, engine = writer(request), engine_of(request)
    found = await find_assistant(engine, body.assistant_id, caller)
    if thread_id is not None:
        await engine.durable.ensure_ready()
        if await engine.durable.threads.get(thread_id, owner=caller.tenant) is None:
            raise UnknownThreadError(thread_id)
        if body.on_run_completed is not None:
            raise ApiError(422, "on_run_completed applies to crons without a thread")
    engine.validate(found.graph, body.input, threaded=thread_id is not None)  # 422 now
    cron_id = str(uuid.uuid4())
    payload = {"assistant_id": found.view.assistant_id, **_payload(body, cron_id)}
    draft = CronRecord(
        cron_id=cron_id, assistant_id=found.view.assistant_id, thread_id=thread_id,
        schedule=body.schedule, timezone=body.timezone, end_time=_end(body.end_time),
        enabled=body.enabled is not False,
        on_run_completed=None if thread_id else (body.on_run_completed or "delete"),
        payload=payload, metadata=body.metadata or {}, user_id=caller.subject,
        next_run_at=None, owner=caller.tenant,
    )  # fmt: skip
    draft = _rescheduled(draft)
    await engine.durable.ensure_ready()
    return JSON(view(await engine.durable.crons.create(draft)))


def _rescheduled(cron: CronRecord) -> CronRecord:
    return replace(cron, next_run_at=next_time(cron, datetime.now(UTC).timestamp()))


async def create_cron(request: Request, body: cm.CronCreate) -> Response:
    """``POST /runs/crons``: a cron whose runs have no thread (or a new one each)."""
    return await _create(request, body, None)


async def create_thread_cron(request: Request, body: cm.CronCreate) -> Response:
    """``POST /threads/{thread_id}/runs/crons``: a cron whose runs use the thread."""
    return await _create(request, body, request.path_params["thread_id"])


async def _cron(request: Request, caller: Caller) -> CronRecord:
    cron_id = request.path_params["cron_id"]
    engine = engine_of(request)
    await engine.durable.ensure_ready()
    cron = await engine.durable.crons.get(cron_id, owner=caller.tenant)
    if cron is None:
        raise ApiError(404, f"cron {cron_id!r} not found")
    return cron


async def get_cron(request: Request) -> Response:
    """``GET /runs/crons/{cron_id}``."""
    return JSON(view(await _cron(request, caller_of(request))))


async def update_cron(request: Request, body: cm.CronPatch) -> Response:
    """``PATCH /runs/crons/{cron_id}``: the fields given; the next time is recomputed when
    the schedule, time zone, end time or enabled state changes."""
    caller, engine = writer(request), engine_of(request)
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise ApiError(422, "nothing to update: the body names no field")
    cron = await _cron(request, caller)
    changes: dict[str, Any] = {
        name: given[name]
        for name in ("schedule", "timezone", "enabled", "on_run_completed")
        if given.get(name) is not None
    }
    if changes.get("on_run_completed") and cron.thread_id is not None:
        raise ApiError(422, "on_run_completed applies to crons without a thread")
    if "end_time" in given:  # an explicit null clears it
        changes["end_time"] = _end(body.end_time)
    if body.metadata is not None:
        changes["metadata"] = {**cron.metadata, **body.metadata}
    payload = dict(cron.payload)
    if body.input is not None:
        found = await find_assistant(engine, cron.assistant_id, caller)
        engine.validate(found.graph, body.input, threaded=cron.thread_id is not None)
        payload["input"] = body.input
    if body.stream_mode is not None:
        payload["stream_mode"] = body.stream_mode
    if body.config is not None or body.context is not None:
        payload["config"] = _payload(body, cron.cron_id)["config"]
    if payload != cron.payload:
        changes["payload"] = payload
    if set(changes) & {"schedule", "timezone", "end_time", "enabled"}:
        changes["next_run_at"] = _rescheduled(replace(cron, **changes)).next_run_at
    updated = await engine.durable.crons.update(cron.cron_id, changes, owner=caller.tenant)
    if updated is None:
        raise ApiError(404, f"cron {cron.cron_id!r} not found")
    return JSON(view(updated))


async def delete_cron(request: Request) -> Response:
    """``DELETE /runs/crons/{cron_id}``."""
    caller = writer(request)
    cron = await _cron(request, caller)
    if not await engine_of(request).durable.crons.delete(cron.cron_id, owner=caller.tenant):
        raise ApiError(404, f"cron {cron.cron_id!r} not found")
    return Response(status_code=204)


async def _matching(request: Request, body: cm.CronSearch | cm.CronCount) -> list[dict[str, Any]]:
    engine, caller = engine_of(request), caller_of(request)
    await engine.durable.ensure_ready()
    assistant_id = body.assistant_id
    if assistant_id is not None:  # a graph name means its system assistant (LangGraph)
        graph = system_graph(engine, assistant_id)
        assistant_id = assistant_id_of(graph) if graph else assistant_id
    crons = await engine.durable.crons.search(
        owner=caller.tenant, assistant_id=assistant_id, thread_id=body.thread_id,
        enabled=getattr(body, "enabled", None),
    )  # fmt: skip
    return [view(c) for c in crons if contains(c.metadata, body.metadata or {})]


async def search_crons(request: Request, body: cm.CronSearch) -> Response:
    """``POST /runs/crons/search``: the caller's crons, filtered, sorted and paged."""
    rows = sort_rows(await _matching(request, body), body.sort_by, body.sort_order,
                     text_fields=("cron_id", "assistant_id", "thread_id"))  # fmt: skip
    chunk, headers = page(rows, body.offset, body.limit, body.select)
    return JSON(chunk, headers=headers)


async def count_crons(request: Request, body: cm.CronCount) -> Response:
    """``POST /runs/crons/count``."""
    return JSON(len(await _matching(request, body)))


def cron_routes() -> list[BaseRoute]:
    """The cron routes of the LangGraph API."""
    meaning = {
        403: "The caller is read-only.",
        404: "Unknown cron, assistant or thread (or one the caller may not use).",
        413: "The body is over 1 MiB.",
        422: "A bad schedule, time zone, input or body, or a parameter this server's runs "
        "do not serve (the detail names it).",
        503: "The control tables are unavailable.",
    }
    errors = {code: Answer(text, Detail) for code, text in meaning.items()}
    one = {200: Answer("The cron.", cm.Cron)}
    paged = ("X-Pagination-Total", "X-Pagination-Next")
    many = {200: Answer("Crons (only the selected fields with select).", cm.CronFields,
                        many=True, headers=paged)}  # fmt: skip
    c = "/runs/crons/{cron_id}"
    return [
        sdk_route("/runs/crons", "POST", create_cron, Operation(
            "sdk_create_cron", "A cron whose runs have no thread", TAG, {**one, **errors},
            body=cm.CronCreate,
        )),
        sdk_route("/threads/{thread_id}/runs/crons", "POST", create_thread_cron, Operation(
            "sdk_create_thread_cron", "A cron whose runs use the thread", TAG,
            {**one, **errors}, body=cm.CronCreate,
        )),
        sdk_route("/runs/crons/search", "POST", search_crons, Operation(
            "sdk_search_crons", "The caller's crons, filtered, sorted and paged", TAG,
            {**many, **errors}, body=cm.CronSearch,
        ), access="read"),
        sdk_route("/runs/crons/count", "POST", count_crons, Operation(
            "sdk_count_crons", "How many crons match", TAG,
            {200: Answer("How many.", Count), **errors}, body=cm.CronCount,
        ), access="read"),
        sdk_route(c, "GET", get_cron, Operation(
            "sdk_get_cron", "One cron", TAG, {**one, **errors},
        )),
        sdk_route(c, "PATCH", update_cron, Operation(
            "sdk_update_cron", "Change a cron", TAG, {**one, **errors}, body=cm.CronPatch,
        )),
        sdk_route(c, "DELETE", delete_cron, Operation(
            "sdk_delete_cron", "Delete a cron", TAG, {204: Answer("Deleted."), **errors},
        )),
    ]  # fmt: skip
