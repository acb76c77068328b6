"""One run, as data: `RunRecord` and the one vocabulary of run statuses, `RunStatus`.

Every layer that talks about runs uses this record: the runs log behind the dashboard,
the LangGraph server API's runs (which map the statuses onto LangGraph's own names when
they answer, see `LANGGRAPH_STATUS`), and the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

RunStatus = Literal[
    "pending", "running", "complete", "partial", "interrupted", "failed", "cancelled", "timeout"
]
"""pending / running while it executes; then complete (every branch succeeded), partial
(some branch failed, the run completed), interrupted (paused for a human), failed (the run
raised), cancelled (stopped by a caller or a client that went away), timeout."""

RUN_STATUSES: frozenset[str] = frozenset(get_args(RunStatus))
FINISHED: frozenset[str] = RUN_STATUSES - {"pending", "running"}

LANGGRAPH_STATUS: Mapping[str, str] = {
    "pending": "pending",
    "running": "running",
    "complete": "success",
    "partial": "success",
    "interrupted": "interrupted",
    "failed": "error",
    "cancelled": "interrupted",
    "timeout": "timeout",
}
"""Our status -> the status LangGraph's server API reports for a run."""

MAX_ERROR_CHARS = 300


def error_text(error: BaseException | str | None) -> str | None:
    """A short, repr-free description of `error` for records and logs (None stays None).

    An exception becomes ``"TypeName: message"`` (just the type when the message is
    empty), cut to 300 characters; a cancellation reads ``"cancelled"``.
    """
    if error is None:
        return None
    if isinstance(error, BaseException):
        if isinstance(error, _cancelled_types()):
            return "cancelled"
        message = str(error)
        error = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return error[:MAX_ERROR_CHARS]


def _cancelled_types() -> tuple[type[BaseException], ...]:
    import asyncio

    return (asyncio.CancelledError,)


def failed_sources(errors: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The node names in a run's ``errors`` list (``NodeError`` dicts), in order, unique."""
    seen: dict[str, None] = {}
    for err in errors:
        node = err.get("node")
        if node:
            seen[str(node)] = None
    return tuple(seen)


@dataclass
class RunRecord:
    """One run: which graph, its ids, its status, when, how long, and what failed.

    ``created_at``/``updated_at``/``finished_at`` are epoch seconds; ``duration_ms`` is set
    when the run finishes. ``error`` is a short text (never a repr or a stack).
    """

    run_id: str
    graph: str
    status: RunStatus = "pending"
    thread_id: str | None = None
    assistant_id: str | None = None
    trace_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    multitask_strategy: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    duration_ms: float | None = None
    failed_sources: tuple[str, ...] = ()
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the run reached a final status."""
        return self.status in FINISHED

    def finish(
        self,
        status: RunStatus,
        *,
        duration_ms: float | None = None,
        failed: Iterable[str] = (),
        error: BaseException | str | None = None,
        trace_id: str | None = None,
    ) -> RunRecord:
        """Stamp the final `status` (ValueError for an unknown or unfinished one); returns self."""
        if status not in FINISHED:
            raise ValueError(
                f"a finished run's status is one of {sorted(FINISHED)}, got {status!r}"
            )
        now = time.time()
        self.status = status
        self.updated_at = self.finished_at = now
        if duration_ms is not None:
            self.duration_ms = float(duration_ms)
        self.failed_sources = tuple(failed)
        self.error = error_text(error)
        if trace_id is not None:
            self.trace_id = trace_id
        return self

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form (``failed_sources`` as a list)."""
        out = asdict(self)
        out["failed_sources"] = list(self.failed_sources)
        return out
