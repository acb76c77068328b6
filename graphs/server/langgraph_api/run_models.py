"""The LangGraph API's run bodies and answers, as pydantic models.

Every field the SDK's ``RunsClient`` sends is a field here (unknown fields are a 422
naming them); a field this server cannot honour is refused by `run_plan.RunPlan` with a
422 that says why, never dropped. The OpenAPI document is generated from these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel

from graphs.server.langgraph_api.models import Limit, Offset
from graphs.server.openapi import partial_model

StreamModeName = Literal["values", "messages", "updates", "events", "tasks", "checkpoints",
                         "debug", "custom", "messages-tuple", "tools", "lifecycle"]  # fmt: skip
"""The SDK's stream modes (``tools`` and ``lifecycle`` are refused: LangGraph's own
``astream`` has no such modes)."""
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
RunStatusName = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
"""A run's status in LangGraph's names."""
CancelAction = Literal["interrupt", "rollback"]
RunSelectField = Literal["run_id", "thread_id", "assistant_id", "created_at", "updated_at",
                         "status", "metadata", "kwargs", "multitask_strategy"]  # fmt: skip
BATCH_MAX = 100
"""Runs one ``POST /runs/batch`` may create."""


def _listed(value: Any) -> Any:
    """A query parameter given once is a one-item list; given empty (the SDK sends
    ``stream_mode=`` for None), it is not given."""
    if value == "" or value == [""]:
        return None
    return [value] if isinstance(value, str) else value


class RunCommand(BaseModel):
    """``{"resume": value}`` answers an interrupt (``update`` and ``goto`` as LangGraph's)."""

    model_config = ConfigDict(extra="forbid")

    resume: Any = None
    update: Any = None
    goto: Any = None


class CheckpointRef(BaseModel):
    """``checkpoint``: where on the thread a run starts (LangGraph's ``Checkpoint``)."""

    model_config = ConfigDict(extra="forbid")

    thread_id: str | None = None
    checkpoint_ns: str = ""
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class RunCreate(BaseModel):
    """The body of every run route (wait, stream, background, batch items)."""

    model_config = ConfigDict(extra="forbid")

    assistant_id: str = Field(description="A graph name or its assistant id.")
    input: dict[str, Any] | None = Field(default=None, description="The graph's input.")
    command: RunCommand | None = None
    stream_mode: StreamModeName | list[StreamModeName] | None = Field(
        default=None, description="LangGraph's stream modes ('messages-tuple' is LangGraph's "
        "'messages'; 'messages' streams whole messages as LangGraph's server does; "
        "'events' uses astream_events). Default: values."
    )  # fmt: skip
    stream_subgraphs: bool | None = Field(
        default=None, description="Also stream the subgraphs' chunks, as events named 'mode|ns'."
    )
    stream_resumable: bool | None = Field(
        default=None, description="The stream may be rejoined (Last-Event-ID); its run goes on "
        "when the client leaves unless on_disconnect says 'cancel'."
    )  # fmt: skip
    multitask_strategy: MultitaskStrategy | None = Field(
        default=None, description="When the thread is busy: 409 (reject, the default), queue "
        "(enqueue), cancel the running run (interrupt), or cancel and delete it (rollback)."
    )  # fmt: skip
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = Field(
        default=None, description="Runtime context: mirrored into config.configurable (as "
        "LangGraph does) and given to a graph that declares a context schema of its own."
    )  # fmt: skip
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = Field(
        default=None, description="Start from this checkpoint of the thread (a fork of it)."
    )
    checkpoint_during: bool | None = Field(default=None, description="Deprecated: use durability.")
    durability: Literal["sync", "async", "exit"] | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    feedback_keys: list[str] | None = Field(default=None, description="Refused (LangSmith only).")
    webhook: str | None = Field(
        default=None, description="POSTed the run's outcome when it ends (hosts in "
        "SOPHIA_WEBHOOK_HOSTS only)."
    )  # fmt: skip
    if_not_exists: Literal["create", "reject"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = Field(
        default=None, description="What a stream's (or wait's) run does when its client leaves: "
        "cancel (the default of a stream) or continue."
    )  # fmt: skip
    on_completion: Literal["delete", "keep"] | None = Field(
        default=None, description="Runs without a thread: 'keep' runs on a new thread that stays."
    )
    after_seconds: float | None = Field(default=None, ge=0, le=86_400)
    strict_resume: bool | None = None
    langsmith_tracer: dict[str, Any] | None = Field(default=None, description="Refused.")


class RunBatchItem(RunCreate):
    """One run of ``POST /runs/batch``: a `RunCreate` with its thread (none: stateless)."""

    thread_id: str | None = None


class RunBatch(RootModel[list[RunBatchItem]]):
    """``POST /runs/batch``: the background runs to create (all or none)."""

    root: list[RunBatchItem] = Field(min_length=1, max_length=BATCH_MAX)


class RunListQuery(BaseModel):
    """``GET /threads/{thread_id}/runs`` query."""

    limit: Limit = 10
    offset: Offset = 0
    status: RunStatusName | None = None
    select: Annotated[list[RunSelectField] | None, BeforeValidator(_listed)] = None



class CancelQuery(BaseModel):
    """``POST /threads/{thread_id}/runs/{run_id}/cancel`` query."""

    wait: str = Field(
        default="0",
        description="1 or true: answer once the run stopped.",
        json_schema_extra={"enum": ["0", "1", "true", "false"]},
    )
    action: CancelAction = Field(
        default="interrupt", description="interrupt: stop it (kept, 'interrupted'); rollback: stop "
        "it, then delete it and the checkpoints it wrote."
    )  # fmt: skip

    @property
    def waits(self) -> bool:
        """Whether the caller waits for the run to stop."""
        return self.wait in ("1", "true", "True")


class CancelManyQuery(BaseModel):
    """``POST /runs/cancel`` query."""

    action: CancelAction = "interrupt"


class CancelMany(BaseModel):
    """``POST /runs/cancel``: which of the caller's unfinished runs to cancel."""

    model_config = ConfigDict(extra="forbid")

    thread_id: str | None = Field(default=None, description="Runs of this thread.")
    run_ids: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    status: Literal["pending", "running", "all"] | None = Field(
        default=None, description="Runs in this status (all: pending or running)."
    )


class JoinStreamQuery(BaseModel):
    """``GET /threads/{thread_id}/runs/{run_id}/stream`` query."""

    cancel_on_disconnect: str = Field(
        default="false", description="true: cancel the run when this stream's client leaves.",
        json_schema_extra={"enum": ["0", "1", "true", "false"]},
    )  # fmt: skip
    stream_mode: Annotated[list[StreamModeName] | None, BeforeValidator(_listed)] = Field(
        default=None, description="Only these of the run's stream modes (default: all of them)."
    )

    @property
    def cancels(self) -> bool:
        """Whether the run is cancelled when the client leaves."""
        return self.cancel_on_disconnect.lower() in ("1", "true")


# -- answers --------------------------------------------------------------------------
class Run(BaseModel):
    """A run, with LangGraph's status names; ``kwargs`` is what it was given."""

    run_id: str
    thread_id: str | None
    assistant_id: str
    created_at: str
    updated_at: str
    status: RunStatusName
    metadata: dict[str, Any]
    multitask_strategy: str | None
    kwargs: dict[str, Any]


SelectedRun = partial_model(Run, "SelectedRun")
"""A run in a list answer: only the fields ``select`` names, when it names some."""


class RunOutcome(RootModel[dict[str, Any]]):
    """What ``wait`` and ``join`` answer: the final values (``__interrupt__`` holds what
    a paused run waits for), or ``{"__error__": {"error", "message"}}``."""


class StreamPart(BaseModel):
    """One server-sent event (with an ``id:`` that ``Last-Event-ID`` rejoins after):
    ``metadata`` first, then one per chunk named by its stream mode (``values``,
    ``updates``, ``messages/partial`` ...; ``mode|ns`` for a subgraph's), ``error`` on
    failure."""

    event: str
    data: str = Field(json_schema_extra={"contentMediaType": "application/json"})
