"""One run of the LangGraph API as it executes: its `RunExecution` (record, owner, task,
done event, subscribed streams, what it produced), and the per-thread locks that let a
thread run one run at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from langgraph.types import StreamMode

from graphs.engine.run_record import RunRecord, RunStatus
from graphs.server.langgraph_api.models import StreamModeName

STREAM_MODES: tuple[StreamMode, ...] = ("values", "updates")


@dataclass
class RunExecution:
    """The execution state of one run beside its `record`: who owns it, its task, the
    event set when it ends, the queues of its subscribed streams, and what it produced."""

    record: RunRecord
    owner: str | None = None
    values: Any = None
    interrupts: list[Any] = field(default_factory=list)
    error: dict[str, str] | None = None
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: list[asyncio.Queue[Any]] = field(default_factory=list)

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
        if self.interrupts:
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
            else:
                self.values = chunk
        elif mode == "updates" and "__interrupt__" in chunk:
            self.interrupts = list(chunk["__interrupt__"])


def stream_modes(raw: StreamModeName | list[StreamModeName] | None) -> tuple[StreamMode, ...]:
    """The stream modes a run body asks for, in our order (default: values)."""
    modes = [raw] if isinstance(raw, str) else list(raw or ["values"])
    return tuple(m for m in STREAM_MODES if m in modes)


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
