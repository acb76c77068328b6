"""Request and response bodies of the LangGraph API's cron routes, and the schedule rules.

The SDK's ``CronClient`` and LangGraph's OpenAPI document are the reference. A cron
carries what each of its runs is started with (input, config, context, metadata,
multitask strategy, stream mode); the run parameters this server's runs do not serve
yet (`UNSUPPORTED`) are refused with a 422 naming them, never stored and ignored.
Schedules are cron expressions as LangGraph reads them (croniter: five fields, or six
with seconds last), in an IANA time zone (default UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphs.server.langgraph_api.assistant_models import RunConfig
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.models import Limit, Offset
from graphs.server.langgraph_api.run_models import MultitaskStrategy, StreamModeName
from graphs.server.langgraph_api.stream_events import requested_modes

UNSUPPORTED = ("interrupt_before", "interrupt_after", "webhook", "checkpoint_during",
               "stream_subgraphs", "stream_resumable", "durability")  # fmt: skip
"""Run parameters of the SDK's cron calls that crons do not carry to their runs yet."""
CronSortBy = Literal["cron_id", "assistant_id", "thread_id", "next_run_date", "end_time",
                     "created_at", "updated_at"]  # fmt: skip
CronField = Literal["cron_id", "assistant_id", "thread_id", "on_run_completed", "end_time",
                    "schedule", "timezone", "created_at", "updated_at", "user_id", "payload",
                    "next_run_date", "metadata", "enabled"]  # fmt: skip


def next_fire(schedule: str, timezone: str | None, after: float) -> int:
    """The epoch second of the schedule's first time strictly after `after`."""
    from croniter import croniter

    base = datetime.fromtimestamp(after, ZoneInfo(timezone) if timezone else UTC)
    return int(croniter(schedule, base).get_next(datetime).timestamp())


def _schedule(value: str | None) -> str | None:
    from croniter import croniter

    if value is not None and not croniter.is_valid(value):
        raise ValueError(
            f"invalid cron schedule {value!r}: use the standard cron format (minute hour "
            "day-of-month month day-of-week), e.g. '*/5 * * * *' for every 5 minutes"
        )
    return value


def _zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as "
                             "'America/New_York'") from None  # fmt: skip
    return value


class _CronBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    config: RunConfig | None = None
    context: dict[str, Any] | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    timezone: str | None = None
    stream_mode: StreamModeName | list[StreamModeName] | None = None
    interrupt_before: Any = None
    interrupt_after: Any = None
    webhook: Any = None
    checkpoint_during: Any = None
    stream_subgraphs: Any = None
    stream_resumable: Any = None
    durability: Any = None

    @model_validator(mode="after")
    def _supported(self) -> _CronBody:
        given = [name for name in UNSUPPORTED if getattr(self, name) is not None]
        if given:
            raise ValueError(f"not supported by this server's runs: {', '.join(given)}")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _zone(value)

    @field_validator("stream_mode")
    @classmethod
    def _streamable(cls, value: Any) -> Any:
        try:
            requested_modes(value)
        except ApiError as exc:
            raise ValueError(exc.detail) from None
        return value


class CronCreate(_CronBody):
    """``POST /runs/crons`` and ``POST /threads/{thread_id}/runs/crons``."""

    schedule: str
    assistant_id: str = Field(description="An assistant id, or a graph name.")
    multitask_strategy: MultitaskStrategy | None = Field(
        None, description="On a thread busy with a run: 'enqueue' (the default for a "
        "thread's cron), 'reject', 'interrupt' or 'rollback'."
    )  # fmt: skip
    on_run_completed: Literal["delete", "keep"] | None = Field(
        None, description="Crons without a thread: 'delete' (the default) runs each time "
        "without a thread; 'keep' makes a new thread for each run and keeps it."
    )  # fmt: skip

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        return _schedule(value)


class CronPatch(_CronBody):
    """``PATCH /runs/crons/{cron_id}``: only the fields given change (metadata merges;
    ``end_time: null`` clears the end time)."""

    schedule: str | None = None
    on_run_completed: Literal["delete", "keep"] | None = None

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        return _schedule(value)


class CronSearch(BaseModel):
    """``POST /runs/crons/search``."""

    model_config = ConfigDict(extra="forbid")

    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: CronSortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[CronField] | None = None


class CronCount(BaseModel):
    """``POST /runs/crons/count``."""

    model_config = ConfigDict(extra="forbid")

    assistant_id: str | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None


class Cron(BaseModel):
    """A cron as LangGraph's server answers it."""

    cron_id: str
    assistant_id: str
    thread_id: str | None
    on_run_completed: str | None
    end_time: str | None
    schedule: str
    timezone: str | None
    created_at: str
    updated_at: str
    payload: dict[str, Any]
    user_id: str | None
    next_run_date: str | None
    metadata: dict[str, Any]
    enabled: bool


class CronFields(BaseModel):
    """A cron as search answers it: every field, or only those of ``select``."""

    cron_id: str | None = None
    assistant_id: str | None = None
    thread_id: str | None = None
    on_run_completed: str | None = None
    end_time: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    payload: dict[str, Any] | None = None
    user_id: str | None = None
    next_run_date: str | None = None
    metadata: dict[str, Any] | None = None
    enabled: bool | None = None
