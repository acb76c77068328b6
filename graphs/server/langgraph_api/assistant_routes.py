"""The LangGraph API's assistant routes: create, search, count, get, update (a new
version), delete, versions, set_latest, and the graph as drawn and as JSON Schemas.

Assistants are `graphs.server.langgraph_api.assistants`; every route is scoped to the
caller's tenant and to the graphs the caller may use. Behaviour follows LangGraph's
server: ``name`` defaults to 'Untitled'; an update writes a new version, keeps absent
fields and merges metadata; search matches a case-insensitive part of the name and
metadata by containment, newest first; a deleted assistant's versions and crons go
with it and its unfinished runs are cancelled. Differences: a system assistant is
read-only (409), ``delete_threads=true`` is refused (501: this server cannot delete
threads yet), and an assistant id must be a UUID.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.durable.assistants import AssistantContent, contains
from graphs.durable.errors import AssistantExistsError
from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api import assistant_models as am
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api.assistants import (
    FoundAssistant,
    checked_graph,
    config_and_context,
    find_assistant,
    system_assistants,
    system_graph,
    view_of,
)
from graphs.server.langgraph_api.endpoint import TAG, engine_of, runs_of, sdk_route
from graphs.server.langgraph_api.errors import ApiError, Detail
from graphs.server.langgraph_api.graph_views import drawing, graph_schemas, subgraph_schemas
from graphs.server.langgraph_api.listing import page, sort_rows, writer
from graphs.server.openapi import Answer, Operation


def _read_only(found: FoundAssistant) -> ApiError:
    return ApiError(
        409,
        f"the system assistant of graph {found.graph!r} is shared by every caller and "
        "cannot be changed or deleted; create an assistant of the graph instead",
    )


async def _found(request: Request) -> FoundAssistant:
    return await find_assistant(
        engine_of(request), request.path_params["assistant_id"], caller_of(request)
    )


async def create_assistant(request: Request, body: am.AssistantCreate) -> Response:
    """``POST /assistants``: version 1 of a new assistant (409 if the id exists)."""
    caller, engine = writer(request), engine_of(request)
    graph = checked_graph(engine, body.graph_id, caller)
    assistant_id = body.assistant_id or str(uuid.uuid4())
    try:
        uuid.UUID(assistant_id)
    except ValueError:
        raise ApiError(422, "assistant_id must be a UUID") from None
    if system_graph(engine, assistant_id) is not None:
        raise ApiError(409, f"assistant {assistant_id!r} already exists (a system assistant)")
    config, context = config_and_context(body.config, body.context)
    content = AssistantContent(graph, body.name or "Untitled", body.description, config,
                               context, body.metadata or {})  # fmt: skip
    await engine.durable.ensure_ready()
    try:
        record = await engine.durable.assistants.create(
            assistant_id, content, owner=caller.tenant, if_exists=body.if_exists or "raise"
        )
    except AssistantExistsError as exc:
        raise ApiError(409, str(exc)) from exc
    return JSON(view_of(record))


async def _visible(request: Request, graph_id: str | None) -> list[m.Assistant]:
    engine, caller = engine_of(request), caller_of(request)
    if graph_id is not None:
        checked_graph(engine, graph_id, caller)
    await engine.durable.ensure_ready()
    records = await engine.durable.assistants.search(owner=caller.tenant, graph_id=graph_id)
    usable = {n for n in engine.graph_names() if caller.may_use(n)}
    stored = [view_of(r) for r in records if r.graph_id in usable]
    system = [a for a in system_assistants(engine, caller) if graph_id in (None, a.graph_id)]
    return system + stored


def _matching(
    found: list[m.Assistant], body: am.AssistantSearch | am.AssistantCount
) -> list[dict[str, Any]]:
    name = (body.name or "").lower()
    return [
        a.model_dump()
        for a in found
        if name in a.name.lower() and contains(a.metadata, body.metadata or {})
    ]


async def search_assistants(request: Request, body: am.AssistantSearch) -> Response:
    """``POST /assistants/search``: system and saved assistants, filtered, sorted, paged."""
    rows = _matching(await _visible(request, body.graph_id), body)
    rows = sort_rows(rows, body.sort_by, body.sort_order, text_fields=("name", "graph_id"))
    chunk, headers = page(rows, body.offset, body.limit, body.select)
    return JSON(chunk, headers=headers)


async def count_assistants(request: Request, body: am.AssistantCount) -> Response:
    """``POST /assistants/count``: how many assistants search would find."""
    return JSON(len(_matching(await _visible(request, body.graph_id), body)))


async def get_assistant(request: Request) -> Response:
    """``GET /assistants/{assistant_id}`` (the id, or a graph's name for its system one)."""
    return JSON((await _found(request)).view)


async def update_assistant(request: Request, body: am.AssistantPatch) -> Response:
    """``PATCH /assistants/{assistant_id}``: a new version, made current."""
    caller, engine = writer(request), engine_of(request)
    found = await _found(request)
    if found.record is None:
        raise _read_only(found)
    old = found.record
    graph = checked_graph(engine, body.graph_id, caller) if body.graph_id else old.graph_id
    config, context = old.config, old.context
    if body.config is not None or body.context is not None:
        config, context = config_and_context(body.config, body.context)
        if body.config is None:  # only the context changed: keep tags, recursion_limit
            config = {**old.config, "configurable": context}
        elif body.context is None and not config.get("configurable") and old.context:
            config, context = {**config, "configurable": old.context}, old.context
    content = AssistantContent(
        graph, body.name or old.name,
        body.description if body.description is not None else old.description,
        config, context, {**old.metadata, **(body.metadata or {})},
    )  # fmt: skip
    record = await engine.durable.assistants.update(old.assistant_id, content, owner=caller.tenant)
    if record is None:
        raise ApiError(404, f"assistant {old.assistant_id!r} not found")
    return JSON(view_of(record))


async def delete_assistant(request: Request, query: am.DeleteQuery) -> Response:
    """``DELETE /assistants/{assistant_id}``: with its versions and crons; its unfinished
    runs are cancelled."""
    caller, engine = writer(request), engine_of(request)
    found = await _found(request)
    if found.record is None:
        raise _read_only(found)
    if query.threads_too:
        raise ApiError(501, "delete_threads=true is not supported: this server does not "
                       "delete threads yet; delete the assistant without it")  # fmt: skip
    assistant_id = found.record.assistant_id
    runs = runs_of(request)
    for run in list(runs.runs.values()):
        if run.record.assistant_id == assistant_id and not run.done.is_set():
            await runs.cancel(run)
    await engine.durable.crons.delete_for_assistant(assistant_id, owner=caller.tenant)
    if not await engine.durable.assistants.delete(assistant_id, owner=caller.tenant):
        raise ApiError(404, f"assistant {assistant_id!r} not found")
    return Response(status_code=204)


async def assistant_versions(request: Request, body: am.VersionSearch) -> Response:
    """``POST /assistants/{assistant_id}/versions``: newest first."""
    found = await _found(request)
    if found.record is None:
        versions = [found.view]
    else:
        records = await engine_of(request).durable.assistants.versions(
            found.record.assistant_id, owner=caller_of(request).tenant
        )
        versions = [view_of(r) for r in records]
    rows = [v.model_dump() for v in versions if contains(v.metadata, body.metadata or {})]
    chunk, headers = page(rows, body.offset, body.limit)
    return JSON(chunk, headers=headers)


async def set_latest(request: Request, body: am.SetLatest) -> Response:
    """``POST /assistants/{assistant_id}/latest``: make an older version current."""
    caller = writer(request)
    found = await _found(request)
    if found.record is None:
        if body.version != 1:
            raise ApiError(404, f"version {body.version} of {found.view.assistant_id!r} not found")
        return JSON(found.view)
    record = await engine_of(request).durable.assistants.set_latest(
        found.record.assistant_id, body.version, owner=caller.tenant
    )
    if record is None:
        raise ApiError(404, f"version {body.version} of {found.record.assistant_id!r} not found")
    return JSON(view_of(record))


async def assistant_graph(request: Request, query: am.GraphQuery) -> Response:
    """``GET /assistants/{assistant_id}/graph?xray=``: nodes and edges."""
    found = await _found(request)
    try:
        drawn = drawing(engine_of(request).compiled(found.graph), query.level)
    except NotImplementedError:
        raise ApiError(422, f"graph {found.graph!r} cannot be drawn") from None
    return JSON(drawn)


async def assistant_schemas(request: Request) -> Response:
    """``GET /assistants/{assistant_id}/schemas``."""
    found, engine = await _found(request), engine_of(request)
    spec = engine.spec(found.graph)
    schemas = graph_schemas(engine.compiled(found.graph), spec.input_schema())
    return JSON({"graph_id": found.graph, **schemas})


async def assistant_subgraphs(request: Request, query: am.SubgraphQuery) -> Response:
    """``GET /assistants/{assistant_id}/subgraphs[/{namespace}]?recurse=``."""
    found = await _found(request)
    graph = engine_of(request).compiled(found.graph)
    namespace = request.path_params.get("namespace")
    return JSON(subgraph_schemas(graph, namespace, query.recursive))


def _errors(*codes: int) -> dict[int, Answer]:
    meaning = {
        403: "The caller is read-only.",
        404: "Unknown assistant, version or graph (or one the caller may not use).",
        409: "The assistant exists already, or is a (read-only) system assistant.",
        413: "The body is over 1 MiB.",
        422: "The body or query is invalid.",
        501: "A parameter this server does not support (the detail names it).",
        503: "The control tables are unavailable.",
    }
    return {code: Answer(meaning[code], Detail) for code in codes}


def assistant_routes() -> list[BaseRoute]:
    """The assistant routes of the LangGraph API."""
    one = {200: Answer("The assistant.", m.Assistant)}
    many = {200: Answer("Assistants (only the selected fields with select); the "
                        "X-Pagination-Total and X-Pagination-Next headers page them.",
                        am.AssistantFields, many=True,
                        headers=("X-Pagination-Total", "X-Pagination-Next"))}  # fmt: skip
    versions = {200: Answer("Versions, newest first.", m.Assistant, many=True,
                            headers=("X-Pagination-Total", "X-Pagination-Next"))}  # fmt: skip
    read = _errors(404, 413, 422, 503)
    write = _errors(403, 404, 409, 413, 422, 503)
    a = "/assistants/{assistant_id}"
    return [
        sdk_route("/assistants", "POST", create_assistant, Operation(
            "sdk_create_assistant", "Create an assistant (version 1)", TAG,
            {**one, **write}, body=am.AssistantCreate,
        )),
        sdk_route("/assistants/search", "POST", search_assistants, Operation(
            "sdk_search_assistants", "Assistants, filtered, sorted and paged", TAG,
            {**many, **read}, body=am.AssistantSearch,
        ), access="read"),
        sdk_route("/assistants/count", "POST", count_assistants, Operation(
            "sdk_count_assistants", "How many assistants match", TAG,
            {200: Answer("How many.", am.Count), **read}, body=am.AssistantCount,
        ), access="read"),
        sdk_route(a, "GET", get_assistant, Operation(
            "sdk_get_assistant", "One assistant", TAG, {**one, **read},
        )),
        sdk_route(a, "PATCH", update_assistant, Operation(
            "sdk_update_assistant", "A new version of the assistant, made current", TAG,
            {**one, **write}, body=am.AssistantPatch,
        )),
        sdk_route(a, "DELETE", delete_assistant, Operation(
            "sdk_delete_assistant", "Delete the assistant, its versions and crons", TAG,
            {204: Answer("Deleted."), **write, **_errors(501)}, query=am.DeleteQuery,
        )),
        sdk_route(a + "/versions", "POST", assistant_versions, Operation(
            "sdk_assistant_versions", "The assistant's versions, newest first", TAG,
            {**versions, **read}, body=am.VersionSearch,
        ), access="read"),
        sdk_route(a + "/latest", "POST", set_latest, Operation(
            "sdk_set_latest_assistant_version", "Make a version current", TAG,
            {**one, **write}, body=am.SetLatest,
        )),
        sdk_route(a + "/graph", "GET", assistant_graph, Operation(
            "sdk_assistant_graph", "The graph, drawn (xray: subgraphs too)", TAG,
            {200: Answer("Nodes and edges.", am.DrawableGraph), **read}, query=am.GraphQuery,
        )),
        sdk_route(a + "/schemas", "GET", assistant_schemas, Operation(
            "sdk_assistant_schemas", "The graph's JSON Schemas", TAG,
            {200: Answer("The schemas.", am.GraphSchema), **read},
        )),
        sdk_route(a + "/subgraphs", "GET", assistant_subgraphs, Operation(
            "sdk_assistant_subgraphs", "The schemas of the graph's subgraphs", TAG,
            {200: Answer("By namespace.", am.Subgraphs), **read}, query=am.SubgraphQuery,
        )),
        sdk_route(a + "/subgraphs/{namespace}", "GET", assistant_subgraphs, Operation(
            "sdk_assistant_subgraphs_in", "The schemas of the subgraphs under a namespace",
            TAG, {200: Answer("By namespace.", am.Subgraphs), **read}, query=am.SubgraphQuery,
        )),
    ]  # fmt: skip
