"""A bounded in-process log of recent runs, for the dashboard's "recent runs" table.

The engine calls :func:`record_run` once per finished run (complete, partial or failed);
the dashboard reads :meth:`RunsLog.recent`. The log keeps at most ``max_runs`` entries
(oldest dropped first) and is safe to use from several threads and tasks.

Hook (in ``Engine.invoke``, ``resume`` and ``stream``, after the input was validated,
so rejected input is not a run)::

    with runs_log.track_run(name, run_id) as tracked:
        ...                                   # the run, as today
        result = {...}                        # what invoke returns
        tracked.finish(result)                # status, trace_id and failed sources from it

An exception leaving the block (including cancellation) records the run as ``failed``
with the error, and is re-raised unchanged.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "RunRecord",
    "RunStatus",
    "RunsLog",
    "default_runs_log",
    "failed_sources",
    "record_run",
    "set_default_runs_log",
    "track_run",
]

RunStatus = Literal["complete", "partial", "failed", "interrupted"]
_STATUSES: frozenset[str] = frozenset({"complete", "partial", "failed", "interrupted"})
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class RunRecord:
    """One finished run: which graph, its ids, outcome, duration and failed sources."""

    graph: str
    run_id: str
    trace_id: str | None
    status: RunStatus
    duration_ms: float
    finished_at: float
    failed_sources: tuple[str, ...] = field(default=())
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form (``failed_sources`` as a list)."""
        out = asdict(self)
        out["failed_sources"] = list(self.failed_sources)
        return out


class RunsLog:
    """The last ``max_runs`` runs, newest last, plus totals per status since creation."""

    def __init__(self, max_runs: int = 200) -> None:
        if max_runs < 1:
            raise ValueError(f"max_runs must be >= 1, got {max_runs}")
        self.max_runs = max_runs
        self._runs: deque[RunRecord] = deque(maxlen=max_runs)
        self._totals: dict[str, int] = dict.fromkeys(sorted(_STATUSES), 0)
        self._lock = threading.Lock()

    def add(self, record: RunRecord) -> None:
        """Append one run (the oldest is dropped when the log is full)."""
        with self._lock:
            self._runs.append(record)
            self._totals[record.status] += 1

    def recent(self, limit: int = 50) -> list[RunRecord]:
        """The newest ``limit`` runs, newest first."""
        with self._lock:
            runs = list(self._runs)
        return runs[::-1][: max(0, limit)]

    def totals(self) -> dict[str, int]:
        """How many runs finished with each status since this log was made."""
        with self._lock:
            return dict(self._totals)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def clear(self) -> None:
        """Forget every run and reset the totals."""
        with self._lock:
            self._runs.clear()
            self._totals = dict.fromkeys(sorted(_STATUSES), 0)


_default_lock = threading.Lock()
_default: RunsLog | None = None


def default_runs_log() -> RunsLog:
    """The process-wide log :func:`record_run` writes to, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = RunsLog()
    return _default


def set_default_runs_log(log: RunsLog | None) -> RunsLog | None:
    """Replace the process-wide log (None: a fresh one on next use); returns the old one."""
    global _default
    with _default_lock:
        old, _default = _default, log
    return old


def failed_sources(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """The node names in a run's ``errors`` list (``NodeError`` dicts), in order, unique."""
    seen: dict[str, None] = {}
    for err in errors:
        node = err.get("node")
        if node:
            seen[str(node)] = None
    return list(seen)


def record_run(
    graph: str,
    run_id: str,
    trace_id: str | None,
    status: str,
    duration_ms: float,
    *,
    failed_sources: Iterable[str] = (),
    error: BaseException | str | None = None,
    log: RunsLog | None = None,
) -> RunRecord:
    """Record one finished run in ``log`` (default: the process-wide one); returns it.

    ``status`` must be ``complete``, ``partial``, ``failed`` or ``interrupted`` (a durable
    run paused for a human; ValueError otherwise);
    an exception given as ``error`` is kept as ``"TypeName: message"``, cut to 300 chars.
    """
    if status not in _STATUSES:
        raise ValueError(f"run status must be one of {sorted(_STATUSES)}, got {status!r}")
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    record = RunRecord(
        graph=graph,
        run_id=run_id,
        trace_id=trace_id,
        status=status,  # type: ignore[arg-type]  # checked against _STATUSES above
        duration_ms=float(duration_ms),
        finished_at=time.time(),
        failed_sources=tuple(failed_sources),
        error=error[:MAX_ERROR_CHARS] if error else None,
    )
    (log if log is not None else default_runs_log()).add(record)
    return record


class RunTracker:
    """What :func:`track_run` yields: call :meth:`finish` with the run's result."""

    def __init__(self) -> None:
        self.result: Mapping[str, Any] | None = None
        self.trace_id: str | None = None

    def finish(self, result: Mapping[str, Any]) -> None:
        """The run ended with `result` (keys ``status``, ``trace_id``, ``errors``)."""
        self.result = result


@contextlib.contextmanager
def track_run(graph: str, run_id: str, *, log: RunsLog | None = None) -> Iterator[RunTracker]:
    """Record the run of the block: from the result given to ``finish()``, or as
    ``failed`` with the exception that left the block (re-raised unchanged).

    A block that ends without ``finish()`` and without an exception is recorded as
    ``failed`` ("ended without a result"). Set ``tracker.trace_id`` early for failed
    runs to keep their trace link.
    """
    tracker = RunTracker()
    started = time.perf_counter()
    try:
        yield tracker
    except BaseException as exc:
        elapsed = (time.perf_counter() - started) * 1000
        record_run(graph, run_id, tracker.trace_id, "failed", elapsed, error=exc, log=log)
        raise
    elapsed = (time.perf_counter() - started) * 1000
    result = tracker.result
    if result is None:
        record_run(
            graph, run_id, tracker.trace_id, "failed", elapsed,
            error="ended without a result", log=log,
        )  # fmt: skip
        return
    status = str(result.get("status") or "complete")
    record_run(
        graph,
        run_id,
        result.get("trace_id") or tracker.trace_id,
        status if status in _STATUSES else "complete",
        elapsed,
        failed_sources=failed_sources(result.get("errors") or []),
        log=log,
    )
