"""Our objects as the LangGraph API shows them: graphs as assistants, thread records,
state snapshots and run records as the response models of `.models`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from langgraph.types import Interrupt, PregelTask, StateSnapshot
from pydantic import ValidationError

from graphs.durable.threads import ThreadRecord
from graphs.engine.engine import Engine
from graphs.engine.registry import GraphSpec
from graphs.engine.run_record import LANGGRAPH_STATUS, RunRecord, error_text
from graphs.server.langgraph_api import models as m
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.run_models import Run

ASSISTANT_NS = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
EPOCH = "2025-01-01T00:00:00+00:00"


def assistant_id_of(graph: str) -> str:
    """The stable assistant id of graph `graph`."""
    return str(uuid.uuid5(ASSISTANT_NS, graph))


def graph_of(engine: Engine, assistant_id: str) -> str:
    """The graph an assistant id (or graph name) names; ApiError 404 when none does."""
    for name in engine.graph_names():
        if assistant_id in (name, assistant_id_of(name)):
            return name
    raise ApiError(404, f"assistant {assistant_id[:100]} not found")


def assistant(spec: GraphSpec) -> m.Assistant:
    """Graph `spec` as an assistant."""
    return m.Assistant(
        assistant_id=assistant_id_of(spec.name),
        graph_id=spec.name,
        name=spec.name,
        description=spec.description,
        config={},
        context={},
        metadata={"created_by": "system"},
        version=1,
        created_at=EPOCH,
        updated_at=EPOCH,
    )


def _checkpoint(config: Any) -> m.Checkpoint | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    return m.Checkpoint(
        thread_id=conf.get("thread_id"),
        checkpoint_ns=conf.get("checkpoint_ns", ""),
        checkpoint_id=conf.get("checkpoint_id"),
        checkpoint_map=conf.get("checkpoint_map"),
    )


def _interrupts(interrupts: Iterable[Interrupt]) -> list[m.InterruptInfo]:
    return [m.InterruptInfo.model_validate(i) for i in interrupts]


def _task(task: PregelTask) -> m.StateTask:
    """A pending task; a subgraph's carries its checkpoint's configurable, or its state
    (LangGraph's server shows them so)."""
    nested = task.state
    return m.StateTask(
        id=task.id,
        name=task.name,
        path=list(task.path),
        error=error_text(task.error),
        interrupts=_interrupts(task.interrupts),
        checkpoint=dict(nested.get("configurable", {})) if isinstance(nested, dict) else None,
        state=state_of(nested) if isinstance(nested, StateSnapshot) else None,
        result=task.result,
    )


def _checkpoint_id(config: Any) -> str | None:
    return config.get("configurable", {}).get("checkpoint_id") if config else None


def state_of(snapshot: StateSnapshot) -> m.ThreadState:
    """One checkpoint as the SDK's ``ThreadState`` (with the ids LangGraph's server
    still answers beside ``checkpoint``)."""
    return m.ThreadState(
        values=snapshot.values,
        next=list(snapshot.next),
        checkpoint=_checkpoint(snapshot.config),
        metadata=dict(snapshot.metadata or {}),
        created_at=snapshot.created_at,
        parent_checkpoint=_checkpoint(snapshot.parent_config),
        tasks=[_task(t) for t in snapshot.tasks],
        interrupts=_interrupts(snapshot.interrupts),
        checkpoint_id=_checkpoint_id(snapshot.config),
        parent_checkpoint_id=_checkpoint_id(snapshot.parent_config),
    )


def empty_state(thread_id: str) -> m.ThreadState:
    """The state of a thread no run has used yet."""
    return m.ThreadState(
        values={},
        next=[],
        checkpoint=m.Checkpoint(
            thread_id=thread_id, checkpoint_ns="", checkpoint_id=None, checkpoint_map=None
        ),
        metadata={},
        created_at=None,
        parent_checkpoint=None,
        tasks=[],
        interrupts=[],
    )


def thread_of(record: ThreadRecord) -> m.Thread:
    """A thread as its row holds it: status, and the values and interrupts its last run
    ended with (`graphs.engine.threads.Threads.settle`); no checkpoint is read."""
    try:
        interrupts = {
            task: [m.InterruptInfo.model_validate(i) for i in items]
            for task, items in record.interrupts.items()
        }
    except (ValidationError, TypeError, AttributeError):
        interrupts = {}
    return m.Thread(
        thread_id=record.thread_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        state_updated_at=record.state_updated_at or record.updated_at,
        metadata=record.metadata,
        config=record.config,
        status=record.status,
        values=record.values if record.values is not None else {},
        interrupts=interrupts,
        # Only the kind: a run's error text may name files or hosts (the log has it).
        error=record.error.split(":", 1)[0] if record.error else None,
    )


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def run_of(record: RunRecord) -> Run:
    """A run as the SDK's ``Run``, its status in LangGraph's names."""
    return Run(
        run_id=record.run_id,
        thread_id=record.thread_id,
        assistant_id=record.assistant_id or record.graph,
        created_at=_iso(record.created_at),
        updated_at=_iso(record.updated_at),
        status=LANGGRAPH_STATUS[record.status],  # type: ignore[arg-type]
        metadata=record.metadata,
        multitask_strategy=record.multitask_strategy,
        kwargs=record.kwargs,
    )
