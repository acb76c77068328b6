"""Assistants as the LangGraph API serves them, and what a run takes from its assistant.

An assistant is a saved configuration of a registered graph (`graphs.durable.assistants`,
versioned), or a graph's *system* assistant: one per registered graph, made from the
registry (id: `assistant_id_of` the graph's name; the name is accepted as the id too),
visible to every caller who may use the graph, and read-only (it is shared by every
tenant, so no tenant may change or delete it: that answers 409).

`find_assistant` resolves an id for a caller (404 for another tenant's assistant, one of
a graph this server does not register, or one of a graph the caller may not use).
`assistant_settings` is what a run started with an assistant id uses: its graph and its
config (the assistant's ``context`` is mirrored into ``config["configurable"]``, as
LangGraph does; this server's graphs take their runtime context from the engine).
`run_config` merges the assistant's config under the run's own, as LangGraph's server
does: the run's keys win, ``configurable`` is merged key by key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from graphs.durable.assistants import AssistantRecord
from graphs.engine.engine import Engine
from graphs.server.caller import OPEN, Caller
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api.assistant_models import RunConfig
from graphs.server.langgraph_api.errors import ApiError, invalid_body
from graphs.server.langgraph_api.views import assistant, assistant_id_of


@dataclass(frozen=True)
class FoundAssistant:
    """An assistant a caller may see: as the API shows it, and its row (None: system)."""

    view: m.Assistant
    record: AssistantRecord | None = None

    @property
    def system(self) -> bool:
        """Whether this is a graph's system assistant (read-only)."""
        return self.record is None

    @property
    def graph(self) -> str:
        """The graph it runs."""
        return self.view.graph_id


@dataclass(frozen=True)
class AssistantSettings:
    """What a run started with an assistant uses: the graph, the assistant's id and its
    config (context mirrored into ``configurable``)."""

    graph: str
    assistant_id: str
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


def not_found(assistant_id: str) -> ApiError:
    """The 404 of an assistant the caller may not see."""
    return ApiError(404, f"assistant {assistant_id!r} not found")


def view_of(record: AssistantRecord) -> m.Assistant:
    """A stored assistant (or version) as the API shows it."""
    return m.Assistant(
        assistant_id=record.assistant_id, graph_id=record.graph_id, name=record.name,
        description=record.description, config=record.config, context=record.context,
        metadata=record.metadata, version=record.version, created_at=record.created_at,
        updated_at=record.updated_at,
    )  # fmt: skip


def system_assistants(engine: Engine, caller: Caller) -> list[m.Assistant]:
    """The system assistant of every graph the caller may use."""
    return [assistant(engine.spec(n)) for n in engine.graph_names() if caller.may_use(n)]


def system_graph(engine: Engine, assistant_id: str) -> str | None:
    """The graph whose system assistant `assistant_id` is (its id or its name), or None."""
    for name in engine.graph_names():
        if assistant_id in (name, assistant_id_of(name)):
            return name
    return None


async def find_assistant(
    engine: Engine, assistant_id: str, caller: Caller = OPEN
) -> FoundAssistant:
    """The assistant `assistant_id` as `caller` sees it; ApiError 404 when it may not."""
    graph = system_graph(engine, assistant_id)
    if graph is not None:
        if not caller.may_use(graph):
            raise not_found(assistant_id)
        return FoundAssistant(assistant(engine.spec(graph)))
    await engine.durable.ensure_ready()
    record = await engine.durable.assistants.get(assistant_id, owner=caller.tenant)
    if (
        record is None
        or record.graph_id not in engine.graph_names()
        or not caller.may_use(record.graph_id)
    ):
        raise not_found(assistant_id)
    return FoundAssistant(view_of(record), record)


def checked_graph(engine: Engine, graph_id: str, caller: Caller) -> str:
    """`graph_id` if it is registered and the caller may use it; else ApiError 404
    naming the graphs the caller may use (as LangGraph's server answers)."""
    usable = [n for n in engine.graph_names() if caller.may_use(n)]
    if graph_id not in usable:
        raise ApiError(404, f"graph {graph_id!r} not found; expected one of {usable}")
    return graph_id


def config_and_context(
    config: RunConfig | dict[str, Any] | None, context: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An assistant's config and context kept in step as LangGraph keeps them: a
    ``configurable`` becomes the context, a context becomes the ``configurable``; both
    at once is a 422."""
    raw = config.model_dump(exclude_none=True) if isinstance(config, RunConfig) else dict(
        config or {}
    )
    configurable = raw.get("configurable") or {}
    if configurable and context:
        raise ApiError(422, "give either config.configurable or context, not both "
                       "(context is mirrored into config.configurable)")  # fmt: skip
    if configurable:
        return raw, dict(configurable)
    if context:
        return {**raw, "configurable": dict(context)}, dict(context)
    return raw, {}


async def assistant_settings(
    engine: Engine, assistant_id: str, caller: Caller = OPEN
) -> AssistantSettings:
    """What a run started with `assistant_id` uses: the graph, and the assistant's saved
    config and context. A graph the caller's key does not cover is 403 (as on
    ``/graphs/{name}/invoke``); an assistant the caller cannot see is 404."""
    graph = system_graph(engine, assistant_id)
    if graph is not None and not caller.may_use(graph):
        raise ApiError(403, f"this key may not run graph {graph!r}")
    found = await find_assistant(engine, assistant_id, caller)
    if found.record is None:
        return AssistantSettings(found.graph, found.view.assistant_id)
    record = found.record
    return AssistantSettings(record.graph_id, record.assistant_id, record.config, record.context)


def run_config(assistant_config: dict[str, Any], run: dict[str, Any] | None) -> dict[str, Any]:
    """The config of a run: the assistant's, under the run's own (LangGraph's merge: the
    run's keys win; ``configurable`` merged key by key). 422 for a run config that
    LangGraph's ``Config`` does not allow or that sets the server's own keys."""
    try:
        checked = RunConfig.model_validate(run or {}).model_dump(exclude_none=True)
    except ValidationError as exc:
        detail = invalid_body(exc).detail.replace("invalid request body", "invalid config")
        raise ApiError(422, detail) from exc
    merged = {**assistant_config, **checked}
    configurable = {**assistant_config.get("configurable", {}), **checked.get("configurable", {})}
    if configurable:
        merged["configurable"] = configurable
    return merged


def with_assistant(config: dict[str, Any] | None, assistant_id: str) -> dict[str, Any]:
    """A run's config with ``configurable.assistant_id`` set, as LangGraph's server sets
    it: the run's nodes see it, and its checkpoints' metadata records it."""
    config = dict(config or {})
    config["configurable"] = {**config.get("configurable", {}), "assistant_id": assistant_id}
    return config
