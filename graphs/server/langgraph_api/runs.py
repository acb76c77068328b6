"""Runs of the LangGraph SDK API: one asyncio task each, tracked per thread.

`RunManager.start` validates everything that can be checked up front (thread, input,
command, the thread being busy) and raises before anything runs; the run then executes
in its own task, publishing LangGraph's ``(mode, chunk)`` pairs to subscribers (the
SSE streams) and keeping the last values for `wait`/`join`. A thread has at most one
run at a time: a second one is rejected (`ThreadBusyError`, HTTP 409), queued
(``multitask_strategy='enqueue'``), or replaces the first (``'interrupt'``: the first
is cancelled; its completed supersteps stay checkpointed).

Each run is the engine's one `RunRecord` (statuses in our vocabulary; the routes answer
LangGraph's names through `LANGGRAPH_STATUS`) beside its `RunExecution` (task, done
event, subscribers, what it produced). They live in process memory (the newest
`max_runs` are kept); thread state and checkpoints are durable (`graphs.durable`), so
after a restart a thread's run is continued by starting a new run with no input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph.types import Command, StreamMode

from graphs.durable.errors import ThreadBusyError, UnknownThreadError
from graphs.engine.errors import InvalidInputError
from graphs.engine.run_record import RunRecord, RunStatus
from graphs.server.langgraph_api.models import RunCommand, RunCreate, StreamModeName

if TYPE_CHECKING:
    from graphs.engine.engine import Engine

logger = logging.getLogger(__name__)

STREAM_MODES: tuple[StreamMode, ...] = ("values", "updates")
QUEUE_BOUND = 256
_END = object()


@dataclass
class RunExecution:
    """The execution state of one run beside its `record`: its task, the event set when
    it ends, the queues of its subscribed streams, and what it produced."""

    record: RunRecord
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


class RunManager:
    """Starts, tracks, streams, joins and cancels runs on one open Engine."""

    def __init__(self, engine: Engine, *, max_runs: int = 1000) -> None:
        self.engine = engine
        self.max_runs = max_runs
        self.runs: OrderedDict[str, RunExecution] = OrderedDict()
        self.active: dict[str, RunExecution] = {}
        self.last_error: dict[str, dict[str, str]] = {}
        self._thread_locks: dict[str, asyncio.Lock] = {}

    async def start(
        self,
        graph_id: str,
        assistant_id: str,
        thread_id: str | None,
        body: RunCreate,
        *,
        subscribe: bool = False,
        config: dict[str, Any] | None = None,
    ) -> tuple[RunExecution, asyncio.Queue[Any] | None]:
        """Validate and start a run; with `subscribe` also a queue of its stream chunks.
        `config` (tags, recursion_limit, configurable) goes to the run's LangGraph config.

        Raises UnknownThreadError, InvalidInputError or ThreadBusyError before the run
        starts; the caller maps them to 404, 422 and 409.
        """
        engine = self.engine
        strategy = body.multitask_strategy or "reject"
        command = _command(body.command)
        modes = _modes(body.stream_mode)
        run_input: Any = body.input
        if thread_id is None:
            if command is not None:
                raise InvalidInputError(graph_id, ["command: resuming needs a thread"])
            run_input = engine.validate(graph_id, run_input)  # 422 before the run exists
        else:
            await engine.durable.ensure_ready()
            if not await engine.durable.threads.exists(thread_id):
                if body.if_not_exists != "create":
                    raise UnknownThreadError(thread_id)
                await engine.durable.threads.create(thread_id, {}, if_exists="do_nothing")
            if run_input is not None:
                run_input = engine.validate(graph_id, run_input, threaded=True)
            busy = self.active.get(thread_id)
            if busy is not None and strategy == "reject":
                raise ThreadBusyError(thread_id, busy.record.run_id)
            if busy is not None and strategy in ("interrupt", "rollback"):
                await self.cancel(busy)
        record = RunRecord(
            run_id=str(uuid.uuid4()),
            graph=graph_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            metadata=dict(body.metadata or {}),
            multitask_strategy=strategy,
        )
        run = RunExecution(record)
        queue: asyncio.Queue[Any] | None = None
        if subscribe:
            queue = asyncio.Queue(maxsize=QUEUE_BOUND)
            run.subscribers.append(queue)
        self._remember(run)
        if thread_id is not None:
            self.active.setdefault(thread_id, run)
        run.task = asyncio.create_task(
            self._execute(run, run_input, command, modes, config), name=f"run-{record.run_id}"
        )
        return run, queue

    async def _execute(
        self,
        run: RunExecution,
        run_input: Any,
        command: Command[Any] | None,
        modes: tuple[StreamMode, ...],
        config: dict[str, Any] | None = None,
    ) -> None:
        record = run.record
        lock = (
            self._thread_locks.setdefault(record.thread_id, asyncio.Lock())
            if record.thread_id is not None
            else contextlib.nullcontext()
        )
        started = time.perf_counter()
        try:
            async with lock:
                if record.thread_id is not None:
                    self.active[record.thread_id] = run
                record.status = "running"
                record.updated_at = time.time()
                wanted: tuple[StreamMode, ...] = tuple(dict.fromkeys(("values", *modes)))
                async for mode, chunk in self.engine.stream_modes(
                    record.graph,
                    run_input,
                    thread_id=record.thread_id,
                    command=command,
                    modes=wanted,
                    run_id=uuid.UUID(record.run_id).hex,
                    config=config,
                ):
                    _absorb(run, mode, chunk)
                    if mode in modes:
                        await self._publish(run, (mode, chunk))
            record.finish(run.final_status(), duration_ms=_ms_since(started))
        except asyncio.CancelledError as exc:
            record.finish("cancelled", duration_ms=_ms_since(started), error=exc)
        except Exception as exc:
            record.finish("failed", duration_ms=_ms_since(started), error=exc)
            run.error = {"error": type(exc).__name__, "message": str(exc)}
            if not isinstance(exc, InvalidInputError):
                logger.warning("run %s failed: %s", record.run_id, record.error)
            if record.thread_id is not None:
                self.last_error[record.thread_id] = run.error
            await self._publish(run, ("error", run.error))
        else:
            if record.thread_id is not None:
                self.last_error.pop(record.thread_id, None)
        finally:
            if record.thread_id is not None and self.active.get(record.thread_id) is run:
                del self.active[record.thread_id]
            for queue in run.subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_END)
            run.done.set()

    async def _publish(self, run: RunExecution, item: tuple[str, Any]) -> None:
        for queue in list(run.subscribers):
            # Back-pressure: a slow stream reader slows its run, memory stays bounded.
            await queue.put(item)

    async def events(self, queue: asyncio.Queue[Any]) -> AsyncIterator[tuple[str, Any]]:
        """The chunks of a subscribed run until it ends."""
        while True:
            item = await queue.get()
            if item is _END:
                return
            yield item

    def get(self, thread_id: str | None, run_id: str) -> RunExecution | None:
        """The run `run_id` (on `thread_id`), or None."""
        run = self.runs.get(run_id)
        if run is None or run.record.thread_id != thread_id:
            return None
        return run

    def list(self, thread_id: str, limit: int = 10, offset: int = 0) -> list[RunExecution]:
        """Runs of `thread_id`, newest first."""
        runs = [r for r in reversed(self.runs.values()) if r.record.thread_id == thread_id]
        return runs[offset : offset + limit]

    def stop(self, run: RunExecution) -> None:
        """Ask `run` to stop (cancel its task) without waiting for it."""
        if run.task is not None and not run.task.done():
            run.task.cancel()

    async def cancel(self, run: RunExecution, *, wait: bool = True) -> None:
        """Cancel `run` (its completed supersteps stay checkpointed)."""
        self.stop(run)
        if wait and run.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await run.task

    async def aclose(self) -> None:
        """Cancel every unfinished run and wait for them."""
        for run in list(self.runs.values()):
            await self.cancel(run)

    def _remember(self, run: RunExecution) -> None:
        self.runs[run.record.run_id] = run
        while len(self.runs) > self.max_runs:
            oldest_id, oldest = next(iter(self.runs.items()))
            if not oldest.done.is_set():
                break
            del self.runs[oldest_id]


def _absorb(run: RunExecution, mode: str, chunk: Any) -> None:
    """Keep the run's latest values and the interrupts it paused on."""
    if not isinstance(chunk, dict):
        return
    if mode == "values":
        if "__interrupt__" in chunk and len(chunk) == 1:
            run.interrupts = list(chunk["__interrupt__"])
        else:
            run.values = chunk
    elif mode == "updates" and "__interrupt__" in chunk:
        run.interrupts = list(chunk["__interrupt__"])


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _command(raw: RunCommand | None) -> Command[Any] | None:
    if raw is None:
        return None
    return Command(resume=raw.resume, update=raw.update, goto=raw.goto or ())


def _modes(raw: StreamModeName | list[StreamModeName] | None) -> tuple[StreamMode, ...]:
    modes = [raw] if isinstance(raw, str) else list(raw or ["values"])
    return tuple(m for m in STREAM_MODES if m in modes)
