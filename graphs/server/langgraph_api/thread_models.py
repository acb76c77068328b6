"""The request bodies and query strings of the LangGraph API's thread routes, and the
answers only they give (the `Thread` and `ThreadState` answers are in `.models`).

The SDK's `ThreadsClient` is the reference: every field it sends is read here, and a
field this server does not serve (``ttl``, ``extract``, ``select`` on states, a
superstep's ``command``) is refused with a 422 naming it, never ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel

from graphs.server.langgraph_api.models import MAX_LIMIT, Checkpoint, Limit, Offset

SortBy = Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
ThreadStatusName = Literal["idle", "busy", "interrupted", "error"]
ThreadField = Literal[
    "thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config",
    "status", "values", "interrupts", "error",
]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_served(why: str) -> BeforeValidator:
    """The check of a field the SDK may send that this server does not serve: absent or
    null passes, anything else is a 422 naming the field and `why`."""

    def refuse(value: Any) -> None:
        if value is not None:
            raise ValueError(f"not served by this server ({why})")

    return BeforeValidator(refuse)


NoTtl = Annotated[None, _not_served("threads are kept until deleted")]
NoCommand = Annotated[None, _not_served("give values")]
NoExtract = Annotated[None, _not_served("read the fields from the threads")]
NoSelect = Annotated[None, _not_served("states are answered whole")]
_NOT_SERVED = Field(default=None, description="Not served: a value is a 422.")


class CheckpointRef(_Strict):
    """A checkpoint of the thread (the SDK's ``Checkpoint``): its id, its namespace
    ("" for the graph itself, a subgraph's otherwise)."""

    checkpoint_id: str | None = None
    checkpoint_ns: str = ""
    thread_id: str | None = Field(default=None, description="Ignored: the path names the thread.")
    checkpoint_map: dict[str, Any] | None = None


class StateUpdate(_Strict):
    """One update of a superstep: values written as if `as_node` had produced them."""

    values: dict[str, Any] | None = None
    as_node: str | None = None
    command: NoCommand = _NOT_SERVED


class Superstep(_Strict):
    """The updates applied together as one superstep."""

    updates: list[StateUpdate] = Field(min_length=1, max_length=100)


class ThreadCreate(_Strict):
    """``POST /threads``."""

    thread_id: str | None = Field(default=None, description="A new id is made when absent.")
    metadata: dict[str, Any] | None = Field(
        default=None, description="graph_id: the graph the thread runs (supersteps need one)."
    )
    if_exists: Literal["raise", "do_nothing"] | None = None
    supersteps: list[Superstep] | None = Field(
        default=None, max_length=100, description="State updates applied in order once created."
    )
    ttl: NoTtl = _NOT_SERVED


class ThreadSearch(_Strict):
    """``POST /threads/search``: every filter is applied in the database."""

    limit: Limit = 10
    offset: Offset = 0
    status: ThreadStatusName | None = None
    ids: list[str] | None = Field(default=None, max_length=MAX_LIMIT)
    metadata: dict[str, Any] | None = Field(default=None, description="Contained in the metadata.")
    values: dict[str, Any] | None = Field(
        default=None, description="Contained in the values the thread's last run ended with."
    )
    sort_by: SortBy | None = Field(default=None, description="Default: updated_at.")
    sort_order: Literal["asc", "desc"] | None = None
    select: list[ThreadField] | None = Field(default=None, description="Only these fields.")
    extract: NoExtract = _NOT_SERVED


class ThreadCount(_Strict):
    """``POST /threads/count``: the filters of a search."""

    status: ThreadStatusName | None = None
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None


class ThreadPatch(_Strict):
    """``PATCH /threads/{thread_id}``."""

    metadata: dict[str, Any] = Field(description="Merged into the thread's (its keys win).")
    ttl: NoTtl = _NOT_SERVED


class ThreadPrune(_Strict):
    """``POST /threads/prune``."""

    thread_ids: list[str] = Field(max_length=MAX_LIMIT)
    strategy: Literal["delete", "keep_latest"] = Field(
        "delete", description="delete: the threads and their checkpoints; keep_latest: "
        "every checkpoint but each thread's latest."
    )  # fmt: skip


class StateQuery(_Strict):
    """``GET /threads/{thread_id}/state[/{checkpoint_id}]`` query."""

    subgraphs: bool = Field(False, description="Pending subgraph tasks carry their state.")


class StateAtCheckpoint(_Strict):
    """``POST /threads/{thread_id}/state/checkpoint``."""

    checkpoint: CheckpointRef
    subgraphs: bool = False


class StateUpdateRequest(_Strict):
    """``POST /threads/{thread_id}/state``: values written to the thread's latest
    checkpoint (or to `checkpoint_id`'s, forking the thread there)."""

    values: dict[str, Any] | None = None
    as_node: str | None = None
    checkpoint_id: str | None = None
    checkpoint: CheckpointRef | None = None


class HistoryRequest(_Strict):
    """``POST /threads/{thread_id}/history``."""

    limit: Limit = 10
    before: str | CheckpointRef | None = Field(default=None, description="Only older checkpoints.")
    metadata: dict[str, Any] | None = Field(
        default=None, description="Only checkpoints whose metadata has each of these values."
    )
    checkpoint: CheckpointRef | None = Field(default=None, description="A subgraph's namespace.")
    select: NoSelect = _NOT_SERVED


# -- answers --------------------------------------------------------------------------
class StateUpdated(BaseModel):
    """What a state update answers: the checkpoint it wrote."""

    checkpoint: Checkpoint


class PruneResult(BaseModel):
    """How many threads a prune changed."""

    pruned_count: int


class ThreadCountResult(RootModel[int]):
    """How many threads match."""
