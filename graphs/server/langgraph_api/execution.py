"""One run of the LangGraph API as it executes: its `RunExecution` (record, owner, plan,
task, done event, the log of events its streams follow, what it produced), and the
per-thread locks that let a thread run one run at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from graphs.engine.run_record import RunRecord, RunStatus
from graphs.server.langgraph_api.event_log import EventLog
from graphs.server.langgraph_api.run_plan import RunPlan


@dataclass
class RunExecution:
    """The execution state of one run beside its `record`: who owns it, how it runs, its
    task, the event set when it ends, its streams' event log, and what it produced."""

    record: RunRecord
    owner: str | None = None
    plan: RunPlan = field(default_factory=RunPlan)
    values: Any = None
    interrupts: list[Any] = field(default_factory=list)
    paused: bool = False
    """It stopped at an interrupt (``interrupt_before``/``after`` too, which have no value)."""
    error: dict[str, str] | None = None
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    log: EventLog = field(default_factory=EventLog)
    started_at: float | None = None
    remote: bool = False
    """A worker executes it (`graphs.workers`); this process follows its events."""

    @property
    def thread_id(self) -> str | None:
        """The thread it runs on (None for a run without one, whose record's thread id
        only names it)."""
        return None if self.plan.temporary else self.record.thread_id

    def outcome(self) -> Any:
        """What `runs.wait` and `runs.join` answer: the final values (with interrupts)."""
        if self.error is not None:
            return {"__error__": self.error}
        values = dict(self.values) if isinstance(self.values, dict) else self.values
        if self.interrupts and isinstance(values, dict):
            values["__interrupt__"] = self.interrupts
        return values if values is not None else {}

    def final_status(self) -> RunStatus:
        """interrupted (paused for a human), partial (a branch failed) or complete."""
        if self.interrupts or self.paused:
            return "interrupted"
        if isinstance(self.values, dict) and self.values.get("errors"):
            return "partial"
        return "complete"

    def absorb(self, mode: str, chunk: Any) -> None:
        """Keep the run's latest values and the interrupts it paused on."""
        if not isinstance(chunk, dict):
            return
        if mode == "values":
            if "__interrupt__" in chunk and len(chunk) == 1:
                self.interrupts = list(chunk["__interrupt__"])
                self.paused = True
            else:
                self.values = chunk
        elif mode == "updates" and "__interrupt__" in chunk:
            self.interrupts = list(chunk["__interrupt__"])
            self.paused = True


class ThreadLocks:
    """One lock per thread with a run waiting or running; a thread's lock is dropped as
    soon as no run holds or waits for it, so the map holds busy threads only."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str | None) -> AsyncIterator[None]:
        """Hold `thread_id`'s lock for the body (no lock for a run without a thread)."""
        if thread_id is None:
            yield
            return
        lock, users = self._locks.get(thread_id, (asyncio.Lock(), 0))
        self._locks[thread_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[thread_id]
            if users <= 1:
                del self._locks[thread_id]
            else:
                self._locks[thread_id] = (lock, users - 1)
