"""The LangGraph API's request and response bodies, as pydantic models.

The routes parse their bodies and query strings with the request models (a bad one is a
422 naming each field) and answer with the response models; the OpenAPI document is
generated from both. The SDK's own client is the reference for these bodies: run
requests are open to the extra fields the SDK sends and this server does not read; the
thread routes' requests are `.thread_models` (they refuse what they do not serve).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from graphs.server.openapi import partial_model

MAX_LIMIT = 1000


def _page(default: int) -> BeforeValidator:
    """Any integer-like value, clamped to 0..MAX_LIMIT (None: `default`), as the SDK
    server does; anything else is a 422."""

    def clamp(value: Any) -> int:
        try:
            number = int(value if value is not None else default)
        except (TypeError, ValueError) as exc:
            raise ValueError("limit and offset must be integers") from exc
        return max(0, min(number, MAX_LIMIT))

    return BeforeValidator(clamp)


_RANGE = Field(json_schema_extra={"minimum": 0, "maximum": MAX_LIMIT})
Limit = Annotated[int, _page(10), _RANGE]
Offset = Annotated[int, _page(0), _RANGE]


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")




# -- answers --------------------------------------------------------------------------
class InterruptInfo(BaseModel):
    """What a paused graph waits for."""

    model_config = ConfigDict(from_attributes=True)

    value: Any
    id: str


class Assistant(BaseModel):
    """An assistant: a saved configuration of a graph, or a graph's system assistant."""

    assistant_id: str
    graph_id: str
    name: str
    description: str | None
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    version: int
    created_at: str
    updated_at: str


class Thread(BaseModel):
    """A thread and its latest values."""

    thread_id: str
    created_at: str
    updated_at: str
    state_updated_at: str | None = Field(default=None, description="When its values last changed.")
    metadata: dict[str, Any] = Field(description="graph_id and assistant_id: its last run's.")
    config: dict[str, Any] = Field(default_factory=dict, description="Its runs' config.")
    status: Literal["idle", "busy", "interrupted", "error"]
    values: Any
    interrupts: dict[str, list[InterruptInfo]] = Field(description="By task id.")
    error: str | None = Field(default=None, description="The kind of error its last run had.")


SelectedThread = partial_model(Thread, "SelectedThread")
"""A thread in a search answer: only the fields ``select`` names, when it names some."""


class Checkpoint(BaseModel):
    """Where a state snapshot is in the thread's history."""

    thread_id: str | None
    checkpoint_ns: str
    checkpoint_id: str | None
    checkpoint_map: dict[str, Any] | None


class StateTask(BaseModel):
    """A task of the next superstep; a subgraph's carries its checkpoint, or its whole
    state when the state was asked for with ``subgraphs``."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    path: list[Any] = Field(default_factory=list)
    error: str | None = None
    interrupts: list[InterruptInfo] = Field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    state: ThreadState | None = None
    result: Any = None


class ThreadState(BaseModel):
    """One checkpoint of a thread."""

    values: Any
    next: list[str]
    checkpoint: Checkpoint | None
    metadata: dict[str, Any]
    created_at: str | None
    parent_checkpoint: Checkpoint | None
    tasks: list[StateTask]
    interrupts: list[InterruptInfo]
    checkpoint_id: str | None = Field(default=None, description="checkpoint.checkpoint_id.")
    parent_checkpoint_id: str | None = Field(default=None, description="Its parent's.")


StateTask.model_rebuild()
