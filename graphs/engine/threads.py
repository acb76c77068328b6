"""Threaded runs: durable state per thread, resume, state and history.

A run given a thread id is checkpointed after every superstep (``durability="sync"``), so
a run whose process died resumes from its last completed superstep. `Threads` is the
part of the `Engine` that knows threads; the Engine's public methods delegate to it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StateSnapshot

from graphs.durable.errors import (
    CheckpointStoreUnavailableError,
    NothingToResumeError,
    UnknownThreadError,
)
from graphs.durable.store import Durable
from graphs.durable.threads import ThreadStatus
from graphs.engine.errors import InvalidInputError
from graphs.engine.run_input import run_config
from graphs.engine.run_record import error_text
from graphs.engine.run_scope import result_of, run_scope
from stores.errors import SophiaError

if TYPE_CHECKING:
    from graphs.engine.engine import Engine

T = TypeVar("T")
logger = logging.getLogger(__name__)


def is_store_failure(exc: BaseException) -> bool:
    """True for errors raised by the checkpoint store drivers (psycopg, sqlite)."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in {"psycopg", "psycopg_pool", "sqlite3", "aiosqlite"}


def store_unavailable(durable: Durable, exc: BaseException) -> CheckpointStoreUnavailableError:
    """The error a checkpoint store driver failure is reported as."""
    return CheckpointStoreUnavailableError(
        f"the {durable.backend} checkpoint store failed: {type(exc).__name__}"
    )


class Threads:
    """Runs, resumes and reads threads on one open `Engine`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def prepare(self, name: str, thread_id: str) -> None:
        """Check the store is up and record that `thread_id` runs graph `name`."""
        durable = self._engine.durable
        await durable.ensure_ready()
        await durable.threads.attach(thread_id, name)

    async def known(self, thread_id: str) -> None:
        """UnknownThreadError unless `thread_id` exists."""
        durable = self._engine.durable
        await durable.ensure_ready()
        if not await durable.threads.exists(thread_id):
            raise UnknownThreadError(thread_id)

    async def guard_store(self, work: Awaitable[T]) -> T:
        """Await `work`, turning checkpoint store driver errors into CheckpointStoreError."""
        try:
            return await work
        except SophiaError:
            raise
        except Exception as exc:
            if is_store_failure(exc):
                raise store_unavailable(self._engine.durable, exc) from exc
            raise

    async def run(self, name: str, graph_input: Any, thread_id: str, run_id: str) -> dict[str, Any]:
        """Run graph `name` on `thread_id` with `graph_input` (a state or a Command)."""
        engine = self._engine
        spec = engine.spec(name)
        await self.prepare(name, thread_id)
        graph = engine.compiled(name, threaded=True)
        try:
            with run_scope(engine.run_book, name, run_id, thread_id=thread_id) as run:
                final = await self.guard_store(
                    graph.ainvoke(
                        graph_input,
                        context=engine.resources,
                        config=run_config(run_id, thread_id, graph=name),
                        durability="sync",
                    )
                )
                result = run.finish(result_of(spec, dict(final)))
        except Exception as exc:
            await self.settle(name, thread_id, error=error_text(exc))
            raise
        await self.settle(name, thread_id)
        return {"interrupts": [], **result, "thread_id": thread_id}

    async def settle(
        self, name: str, thread_id: str, *, error: str | None = None, paused: bool = False
    ) -> None:
        """Write how the thread's last run ended into its row: the status (``error`` when
        the run failed, ``interrupted`` when it waits for an answer, or when it `paused`
        before or after a node (``interrupt_before``/``after``) with nodes left to run,
        else ``idle``) and the values and pending interrupts of its latest checkpoint (one
        read), so that
        listing threads reads no checkpoint. Never raises: a thread whose state cannot
        be read or written is recorded as ``error`` saying so."""
        threads = self._engine.durable.threads
        try:
            snapshot = await self.get_state(name, thread_id)
            interrupts = {
                task.id: [{"value": i.value, "id": i.id} for i in task.interrupts]
                for task in snapshot.tasks
                if task.interrupts
            }
            waits = bool(interrupts) or (paused and bool(snapshot.next))
            status: ThreadStatus = "error" if error else ("interrupted" if waits else "idle")
            await threads.set_status(
                thread_id, status, values=dict(snapshot.values or {}), interrupts=interrupts,
                error=error,
            )  # fmt: skip
        except Exception as exc:
            logger.warning("thread %s: its state cannot be recorded: %s", thread_id,
                           error_text(exc))  # fmt: skip
            try:
                await threads.set_status(
                    thread_id, "error", error="the thread's stored state cannot be read"
                )
            except Exception as again:
                logger.warning("thread %s: status not recorded: %s", thread_id,
                               error_text(again))  # fmt: skip

    async def resume(self, name: str, thread_id: str, value: Any, run_id: str) -> dict[str, Any]:
        """Answer the thread's interrupt with `value`, or continue its unfinished run."""
        snapshot = await self.get_state(name, thread_id)
        command: Command[Any] | None
        if snapshot.interrupts:
            command = Command(resume=value)
        elif snapshot.next:
            command = None
        else:
            raise NothingToResumeError(
                f"thread {thread_id!r} has nothing to resume: its last run of {name!r} finished"
            )
        return await self.run(name, command, thread_id, run_id)

    async def get_state(
        self,
        name: str,
        thread_id: str,
        *,
        checkpoint_id: str | None = None,
        checkpoint_ns: str = "",
        subgraphs: bool = False,
    ) -> StateSnapshot:
        """The latest checkpoint of `thread_id` (UnknownThreadError if none), or the one
        `checkpoint_id` names (in subgraph namespace `checkpoint_ns`); with `subgraphs`,
        the pending tasks of subgraphs carry their own state. A checkpoint that does not
        exist is a snapshot whose ``metadata`` is None (LangGraph's answer)."""
        await self.known(thread_id)
        graph = self._engine.compiled(name, threaded=True)
        config = _at(thread_id, checkpoint_id, checkpoint_ns)
        return await self.guard_store(graph.aget_state(config, subgraphs=subgraphs))

    async def history(
        self,
        name: str,
        thread_id: str,
        *,
        limit: int | None = None,
        before: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        checkpoint_ns: str = "",
    ) -> list[StateSnapshot]:
        """The checkpoints of `thread_id`, newest first (one per superstep): only those
        older than checkpoint `before` and whose metadata has every key of `metadata`
        with its value (the checkpointer's own ``list(filter=...)``), in namespace
        `checkpoint_ns`."""
        await self.known(thread_id)
        graph = self._engine.compiled(name, threaded=True)

        async def collect() -> list[StateSnapshot]:
            config = _at(thread_id, None, checkpoint_ns)
            older = _at(thread_id, before, checkpoint_ns) if before else None
            return [s async for s in graph.aget_state_history(
                config, limit=limit, before=older, filter=dict(metadata) if metadata else None
            )]  # fmt: skip

        return await self.guard_store(collect())

    async def update_state(
        self,
        name: str,
        thread_id: str,
        supersteps: Sequence[Sequence[tuple[dict[str, Any] | None, str | None]]],
        *,
        checkpoint_id: str | None = None,
    ) -> dict[str, Any]:
        """Apply `supersteps` (each a list of ``(values, as_node)``, values already
        checked) to the thread's latest checkpoint, or to `checkpoint_id` (a fork), with
        LangGraph's ``aupdate_state`` / ``abulk_update_state``; then record the thread's
        new values in its row (`settle`). The new checkpoint's ``configurable``.
        LangGraph's refusal (an unknown or ambiguous ``as_node``) is InvalidInputError."""
        from langgraph.errors import InvalidUpdateError
        from langgraph.types import StateUpdate

        await self.known(thread_id)
        graph = self._engine.compiled(name, threaded=True)
        config = _at(thread_id, checkpoint_id, "")
        config["metadata"] = {**config.get("metadata", {}), "graph_id": name}
        if len(supersteps) == 1 and len(supersteps[0]) == 1:
            values, as_node = supersteps[0][0]
            work = graph.aupdate_state(config, values, as_node=as_node)
        else:
            steps = [[StateUpdate(values, as_node) for values, as_node in s] for s in supersteps]
            work = graph.abulk_update_state(config, steps)
        try:
            new_config = await self.guard_store(work)
        except InvalidUpdateError as exc:
            message = str(exc).split("\n")[0]
            raise InvalidInputError(name, [f"as_node: {message}"]) from None
        await self.settle(name, thread_id)
        return dict(new_config.get("configurable", {}))


def _at(thread_id: str, checkpoint_id: str | None, checkpoint_ns: str) -> RunnableConfig:
    """The config that reads (or writes from) checkpoint `checkpoint_id` of the thread
    (None: its latest) in namespace `checkpoint_ns` (the root: "")."""
    config = run_config(thread_id=thread_id)
    configurable = config.setdefault("configurable", {})
    configurable["checkpoint_ns"] = checkpoint_ns
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return config
