"""The bodies of the service's own routes, as pydantic models (the OpenAPI document's
schemas come from these). A graph's request body is its own input model
(`graphs.engine.registry.GraphSpec.input_model`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """A body that may carry more fields than the ones named."""

    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    """Every error answer of the service's own routes, and a stream's ``error`` event."""

    error: str = Field(description="A machine-readable error code.")
    message: str = Field(description="What went wrong, for a human.")
    run_id: str | None = Field(None, description="The run, when one was started.")
    known: list[str] | None = Field(None, description="Registered graphs (unknown_graph).")
    problems: list[str] | None = Field(None, description="One per bad field (invalid_input).")


class RunResult(_Open):
    """The graph's output plus the run's identity and outcome."""

    run_id: str
    trace_id: str | None = Field(description="32 hex digits; null when tracing is off.")
    status: Literal["complete", "partial", "interrupted"]
    errors: list[dict[str, Any]] = Field(
        description="Branches that failed; empty when every branch succeeded."
    )
    data_sources: dict[str, Any] | None = Field(None, description="Where the data came from.")


class RunLinks(BaseModel):
    """Where to follow a run started with ``POST /graphs/{name}/runs`` (LangGraph API)."""

    run: str = Field(description="GET: the run's status.")
    join: str = Field(description="GET: wait for it, then its final values.")
    stream: str = Field(description="GET: its events (server-sent), from the first or after "
                        "Last-Event-ID.")  # fmt: skip


class RunAccepted(BaseModel):
    """A background run accepted: it executes in this server, or on a worker when the
    server queues runs (``SOPHIA_RUN_QUEUE=postgres``)."""

    run_id: str
    thread_id: str = Field(description="A new thread of the caller's: it keeps the run's "
                           "checkpoints and final values.")  # fmt: skip
    status: Literal["pending"]
    links: RunLinks


class StreamEvent(BaseModel):
    """One server-sent event of ``/graphs/{name}/stream``."""

    event: Literal["update", "end", "error"]
    data: str = Field(
        description="JSON: an update {node, data, run_id, trace_id}, the RunResult (end) "
        "or an ErrorBody (error).",
        json_schema_extra={"contentMediaType": "application/json"},
    )


class GraphInfo(BaseModel):
    """One registered graph."""

    name: str
    description: str
    input_schema: dict[str, Any] = Field(description="The JSON Schema of its input.")


class GraphList(BaseModel):
    """``GET /graphs``."""

    graphs: list[GraphInfo]


class Health(BaseModel):
    """``GET /healthz``: the process is alive."""

    status: Literal["ok"]


class Check(_Open):
    """One dependency's readiness check."""

    ok: bool
    required: bool
    latency_ms: float | None = None
    error: str | None = None


class Readiness(BaseModel):
    """``GET /readyz``: each dependency checked and named."""

    status: Literal["ready", "degraded", "unready"]
    checks: dict[str, Check]


class Stats(_Open):
    """``GET /stats``: the engine's figures and the HTTP admission figures."""

    warehouse: dict[str, Any]
    cache: dict[str, Any] | None
    memory: dict[str, Any] | None
    breakers: dict[str, Any]
    monitor: dict[str, Any]
    http: dict[str, Any] = Field(description="Run slots: active, waiting, limits, rejected.")
    pid: int = Field(description="The worker process that answered.")


class OpenApiDocument(_Open):
    """``GET /openapi.json``: this document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
