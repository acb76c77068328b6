"""Runs of the LangGraph SDK API: one asyncio task each, tracked per thread.

`RunManager.start` validates everything that can be checked up front (assistant, thread,
input, the thread being busy) and raises before anything runs; the run then executes
in its own task, publishing LangGraph's ``(mode, chunk)`` pairs to subscribers (the
SSE streams) and keeping the last values for `wait`/`join`. A thread has at most one
run at a time: a second one is rejected (`ThreadBusyError`, HTTP 409), queued
(``multitask_strategy='enqueue'``), or replaces the first (``'interrupt'``: the first
is cancelled; its completed supersteps stay checkpointed).

Run records live in process memory (the newest `max_runs` are kept); thread state and
checkpoints are durable (`graphs.durable.store`), so after a restart a thread's run is
continued by starting a new run with no input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from langgraph.types import Command, StreamMode

from graphs.durable.errors import ThreadBusyError, UnknownThreadError
from graphs.engine.errors import InvalidInputError

if TYPE_CHECKING:
    from graphs.engine.engine import Engine

logger = logging.getLogger(__name__)

RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
MULTITASK_STRATEGIES = ("reject", "interrupt", "rollback", "enqueue")
STREAM_MODES: tuple[StreamMode, ...] = ("values", "updates")
QUEUE_BOUND = 256
_END = object()


@dataclass
class RunRecord:
    """One run: identity, status, and what `wait`/`join`/streams need."""

    run_id: str
    thread_id: str | None
    graph_id: str
    assistant_id: str
    metadata: dict[str, Any]
    multitask_strategy: str
    created_at: str = field(default_factory=lambda: _now())
    updated_at: str = field(default_factory=lambda: _now())
    status: RunStatus = "pending"
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


class RunManager:
    """Starts, tracks, streams, joins and cancels runs on one open Engine."""

    def __init__(self, engine: Engine, *, max_runs: int = 1000) -> None:
        self.engine = engine
        self.max_runs = max_runs
        self.runs: OrderedDict[str, RunRecord] = OrderedDict()
        self.active: dict[str, RunRecord] = {}
        self.last_error: dict[str, dict[str, str]] = {}
        self._thread_locks: dict[str, asyncio.Lock] = {}

    async def start(
        self,
        graph_id: str,
        assistant_id: str,
        thread_id: str | None,
        body: dict[str, Any],
        *,
        subscribe: bool = False,
    ) -> tuple[RunRecord, asyncio.Queue[Any] | None]:
        """Validate and start a run; with `subscribe` also a queue of its stream chunks.

        Raises UnknownThreadError, InvalidInputError or ThreadBusyError before the run
        starts; the caller maps them to 404, 422 and 409.
        """
        engine = self.engine
        strategy = body.get("multitask_strategy") or "reject"
        if strategy not in MULTITASK_STRATEGIES:
            raise InvalidInputError(graph_id, [f"multitask_strategy: unknown {strategy!r}"])
        command = _command(graph_id, body.get("command"))
        modes = _modes(graph_id, body.get("stream_mode"))
        raw_input = body.get("input")
        if thread_id is None:
            if command is not None:
                raise InvalidInputError(graph_id, ["command: resuming needs a thread"])
            raw_input = engine.validate(graph_id, raw_input)  # 422 before the run exists
        else:
            await engine.durable.ensure_ready()
            if not await engine.durable.threads.exists(thread_id):
                if body.get("if_not_exists") != "create":
                    raise UnknownThreadError(thread_id)
                await engine.durable.threads.create(thread_id, {}, if_exists="do_nothing")
            if raw_input is not None:
                raw_input = engine.validate(graph_id, raw_input, threaded=True)
            busy = self.active.get(thread_id)
            if busy is not None and strategy == "reject":
                raise ThreadBusyError(thread_id, busy.run_id)
            if busy is not None and strategy in ("interrupt", "rollback"):
                await self.cancel(busy)
        record = RunRecord(
            run_id=str(uuid.uuid4()),
            thread_id=thread_id,
            graph_id=graph_id,
            assistant_id=assistant_id,
            metadata=dict(body.get("metadata") or {}),
            multitask_strategy=strategy,
        )
        queue: asyncio.Queue[Any] | None = None
        if subscribe:
            queue = asyncio.Queue(maxsize=QUEUE_BOUND)
            record.subscribers.append(queue)
        self._remember(record)
        if thread_id is not None:
            self.active.setdefault(thread_id, record)
        record.task = asyncio.create_task(
            self._execute(record, raw_input, command, modes), name=f"run-{record.run_id}"
        )
        return record, queue

    async def _execute(
        self,
        record: RunRecord,
        raw_input: Any,
        command: Command[Any] | None,
        modes: tuple[StreamMode, ...],
    ) -> None:
        lock = (
            self._thread_locks.setdefault(record.thread_id, asyncio.Lock())
            if record.thread_id is not None
            else contextlib.nullcontext()
        )
        try:
            async with lock:
                if record.thread_id is not None:
                    self.active[record.thread_id] = record
                record.status = "running"
                record.updated_at = _now()
                wanted: tuple[StreamMode, ...] = tuple(dict.fromkeys(("values", *modes)))
                async for mode, chunk in self.engine.stream_modes(
                    record.graph_id,
                    raw_input,
                    thread_id=record.thread_id,
                    command=command,
                    modes=wanted,
                    run_id=uuid.UUID(record.run_id).hex,
                ):
                    if mode == "values" and isinstance(chunk, dict):
                        if "__interrupt__" in chunk and len(chunk) == 1:
                            record.interrupts = list(chunk["__interrupt__"])
                        else:
                            record.values = chunk
                    elif mode == "updates" and isinstance(chunk, dict):
                        if "__interrupt__" in chunk:
                            record.interrupts = list(chunk["__interrupt__"])
                    if mode in modes:
                        await self._publish(record, (mode, chunk))
                record.status = "interrupted" if record.interrupts else "success"
        except asyncio.CancelledError:
            record.status = "interrupted"
            record.error = None
        except Exception as exc:
            record.status = "error"
            record.error = {"error": type(exc).__name__, "message": str(exc)}
            if not isinstance(exc, InvalidInputError):
                logger.warning("run %s failed: %s: %s", record.run_id, type(exc).__name__, exc)
            if record.thread_id is not None:
                self.last_error[record.thread_id] = record.error
            await self._publish(record, ("error", record.error))
        else:
            if record.thread_id is not None:
                self.last_error.pop(record.thread_id, None)
        finally:
            record.updated_at = _now()
            if record.thread_id is not None and self.active.get(record.thread_id) is record:
                del self.active[record.thread_id]
            for queue in record.subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_END)
            record.done.set()

    async def _publish(self, record: RunRecord, item: tuple[str, Any]) -> None:
        for queue in list(record.subscribers):
            # Back-pressure: a slow stream reader slows its run, memory stays bounded.
            await queue.put(item)

    async def events(self, queue: asyncio.Queue[Any]) -> AsyncIterator[tuple[str, Any]]:
        """The chunks of a subscribed run until it ends."""
        while True:
            item = await queue.get()
            if item is _END:
                return
            yield item

    def get(self, thread_id: str | None, run_id: str) -> RunRecord | None:
        """The run `run_id` (on `thread_id`), or None."""
        record = self.runs.get(run_id)
        if record is None or record.thread_id != thread_id:
            return None
        return record

    def list(self, thread_id: str, limit: int = 10, offset: int = 0) -> list[RunRecord]:
        """Runs of `thread_id`, newest first."""
        runs = [r for r in reversed(self.runs.values()) if r.thread_id == thread_id]
        return runs[offset : offset + limit]

    async def cancel(self, record: RunRecord, *, wait: bool = True) -> None:
        """Cancel `record` (its completed supersteps stay checkpointed)."""
        if record.task is not None and not record.task.done():
            record.task.cancel()
            if wait:
                with contextlib.suppress(asyncio.CancelledError):
                    await record.task

    async def aclose(self) -> None:
        """Cancel every unfinished run and wait for them."""
        for record in list(self.runs.values()):
            await self.cancel(record)

    def _remember(self, record: RunRecord) -> None:
        self.runs[record.run_id] = record
        while len(self.runs) > self.max_runs:
            oldest_id, oldest = next(iter(self.runs.items()))
            if not oldest.done.is_set():
                break
            del self.runs[oldest_id]


def _command(graph_id: str, raw: Any) -> Command[Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(raw) <= {"resume", "update", "goto"}:
        raise InvalidInputError(
            graph_id, ["command: expected an object with resume, update or goto"]
        )
    return Command(resume=raw.get("resume"), update=raw.get("update"), goto=raw.get("goto", ()))


def _modes(graph_id: str, raw: Any) -> tuple[StreamMode, ...]:
    modes = [raw] if isinstance(raw, str) else list(raw or ["values"])
    unknown = [m for m in modes if m not in STREAM_MODES]
    if unknown:
        raise InvalidInputError(
            graph_id, [f"stream_mode: unsupported {unknown}; use {STREAM_MODES}"]
        )
    return tuple(m for m in STREAM_MODES if m in modes)


def _now() -> str:
    return datetime.now(UTC).isoformat()
