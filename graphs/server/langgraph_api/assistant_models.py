"""Request and response bodies of the LangGraph API's assistant routes (and the run
config every assistant, run and cron carries), as pydantic models.

The SDK's client (``langgraph_sdk``'s ``AssistantsClient``) and LangGraph's own OpenAPI
document are the reference: same field names, defaults and limits.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from graphs.server.langgraph_api.models import Limit, Offset

AssistantField = Literal["assistant_id", "graph_id", "name", "description", "config",
                         "context", "created_at", "updated_at", "metadata", "version"]  # fmt: skip
AssistantSortBy = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]
RESERVED_CONFIGURABLE = frozenset({"thread_id", "checkpoint_id", "checkpoint_ns",
                                   "checkpoint_map", "run_id"})  # fmt: skip
"""Configurable keys the server sets itself; a caller that sends one gets a 422."""


class RunConfig(BaseModel):
    """LangGraph's ``Config``: what an assistant, a run or a cron may set for its runs."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] | None = None
    recursion_limit: int | None = Field(None, ge=1, le=10_000)
    configurable: dict[str, Any] | None = None

    @field_validator("configurable")
    @classmethod
    def _no_reserved_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        reserved = sorted(
            k for k in value or {} if k in RESERVED_CONFIGURABLE or k.startswith("__")
        )
        if reserved:
            raise ValueError(f"the server sets these keys itself: {', '.join(reserved)}")
        return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantCreate(_Request):
    """``POST /assistants``."""

    graph_id: str = Field(description="The graph the assistant runs.")
    assistant_id: str | None = Field(None, description="A new uuid when absent.")
    config: RunConfig | None = None
    context: dict[str, Any] | None = Field(
        None, description="Mirrored into config.configurable, as LangGraph does."
    )
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    name: str | None = Field(None, description="Defaults to 'Untitled'.")
    description: str | None = None


class AssistantPatch(_Request):
    """``PATCH /assistants/{assistant_id}``: a new version; absent fields are kept and
    metadata is merged into the current metadata."""

    graph_id: str | None = None
    config: RunConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


class AssistantSearch(_Request):
    """``POST /assistants/search``."""

    graph_id: str | None = None
    name: str | None = Field(None, description="A case-insensitive part of the name.")
    metadata: dict[str, Any] | None = Field(None, description="Every pair must match.")
    limit: Limit = 10
    offset: Offset = 0
    sort_by: AssistantSortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[AssistantField] | None = None


class AssistantCount(_Request):
    """``POST /assistants/count``."""

    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None


class VersionSearch(_Request):
    """``POST /assistants/{assistant_id}/versions``."""

    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0


class SetLatest(_Request):
    """``POST /assistants/{assistant_id}/latest``."""

    version: int = Field(ge=1, le=2**31 - 1)


def _flag(value: Any) -> str:
    text = str(value)
    if text not in ("true", "True", "false", "False", "1", "0"):
        raise ValueError("must be true or false")
    return text


class GraphQuery(BaseModel):
    """``GET /assistants/{assistant_id}/graph`` query."""

    xray: str = Field("false", description="true, false, or how many levels of subgraphs "
                      "to draw (a positive integer).")  # fmt: skip

    @field_validator("xray")
    @classmethod
    def _xray(cls, value: str) -> str:
        if value in ("true", "True", "false", "False") or (value.isdigit() and int(value) > 0):
            return value
        raise ValueError("xray must be true, false or a positive integer")

    @property
    def level(self) -> bool | int:
        """What `get_graph(xray=...)` takes."""
        if self.xray in ("true", "True", "false", "False"):
            return self.xray in ("true", "True")
        return int(self.xray)


class SubgraphQuery(BaseModel):
    """``GET /assistants/{assistant_id}/subgraphs`` query."""

    recurse: str = Field("false", json_schema_extra={"enum": ["true", "false", "1", "0"]})

    @field_validator("recurse")
    @classmethod
    def _recurse(cls, value: str) -> str:
        return _flag(value)

    @property
    def recursive(self) -> bool:
        """Whether subgraphs of subgraphs are listed too."""
        return self.recurse in ("true", "True", "1")


class DeleteQuery(BaseModel):
    """``DELETE /assistants/{assistant_id}`` query."""

    delete_threads: str = Field("false", json_schema_extra={"enum": ["true", "false"]})

    @field_validator("delete_threads")
    @classmethod
    def _delete_threads(cls, value: str) -> str:
        return _flag(value)

    @property
    def threads_too(self) -> bool:
        """Whether the threads of the assistant are to be deleted as well."""
        return self.delete_threads in ("true", "True", "1")


# -- answers --------------------------------------------------------------------------
class Count(RootModel[int]):
    """How many match (assistants, crons)."""


class AssistantFields(BaseModel):
    """An assistant as search answers it: every field, or only those of ``select``."""

    assistant_id: str | None = None
    graph_id: str | None = None
    name: str | None = None
    description: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    version: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class GraphSchema(BaseModel):
    """A graph's JSON Schemas; None where the graph's types have no JSON Schema."""

    graph_id: str | None = None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    state_schema: dict[str, Any] | None
    config_schema: dict[str, Any] | None
    context_schema: dict[str, Any] | None


class Subgraphs(BaseModel):
    """Subgraph schemas by namespace."""

    model_config = ConfigDict(extra="allow")


class DrawableGraph(BaseModel):
    """A graph as LangGraph draws it: ``get_graph(xray=...).to_json()``."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
