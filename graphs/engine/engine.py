"""The Engine: opens the shared resources once and runs registered graphs with them.

    async with Engine.from_env() as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})

Resources (warehouse pool, tiered cache, memory store, checkpoint store) are opened in
``__aenter__`` and closed in ``__aexit__``, in reverse order; they reach nodes as
LangGraph runtime context (`nodes.context.Resources`). Each registered graph is
compiled twice when the engine opens: without a checkpointer for thread-less runs (no
checkpoint writes) and with the checkpointer (`graphs.durable`) for threaded runs, whose
state persists after every superstep (see `graphs.engine.threads`):

    await engine.invoke("deal_review", {"require_approval": True}, thread_id="t-1")
    await engine.resume("deal_review", "t-1", {"decision": "approve"})
    snapshot = await engine.get_state("deal_review", "t-1")

The engine owns its bookkeeping: a `telemetry.Monitor` (``engine.monitor``) and a
`RunsLog` (``engine.runs_log``); two engines in one process never share figures. It
changes nothing process-wide unless asked: ``configure_telemetry=True`` installs the
OpenTelemetry providers (the CLI and the server ask), ``freeze_gc=True`` freezes the
collector's view of the opened resources (the server asks).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot, StreamMode

import telemetry
from graphs.durable.store import Durable
from graphs.engine.errors import EngineNotOpenError, InvalidInputError
from graphs.engine.registry import GraphRegistry, GraphSpec
from graphs.engine.resources import OpenOptions, freeze_gc, open_resources
from graphs.engine.run_input import RunInput, run_config, validate_input
from graphs.engine.run_scope import RunBook, StreamScope, result_of, run_scope
from graphs.engine.runs_log import RunsLog
from graphs.engine.streaming import Part, StreamOptions, graph_parts, own_context_schema
from graphs.engine.threads import Threads, is_store_failure, store_unavailable
from graphs.workflows import default_registry
from nodes.context import Resources
from stores.errors import SophiaError
from stores.resilience.guards import ResilienceRegistry
from stores.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

Compiled = CompiledStateGraph[Any, Any, Any, Any]




class Engine:
    """Runs registered LangGraph workflows on shared, pooled resources.

    Construct it with explicit `settings` (or use `Engine.from_env()`), then open it with
    ``async with``. It is safe to run many invocations concurrently on one engine.
    `checkpointer` replaces the store of threaded runs (default: `graphs.durable`,
    SQLite under the data dir or Postgres when ``SOPHIA_POSTGRES_URL`` is set); the
    engine does not close a checkpointer it was given.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: GraphRegistry | None = None,
        llm: BaseChatModel | None = None,
        auto_seed: bool = False,
        on_seed: Callable[[str], None] | None = None,
        configure_telemetry: bool = False,
        freeze_gc: bool = False,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.registry = registry or default_registry()
        self._options = OpenOptions(
            llm=llm,
            auto_seed=auto_seed,
            on_seed=on_seed,
            configure_telemetry=configure_telemetry,
            freeze_gc=freeze_gc,
            checkpointer=checkpointer,
        )
        self.monitor = telemetry.Monitor()
        self.runs_log = RunsLog()
        self.run_book = RunBook(self.monitor, self.runs_log)
        self.threads = Threads(self)
        self.telemetry: telemetry.Telemetry | None = None
        self.guards: ResilienceRegistry | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._resources: Resources | None = None
        self._durable: Durable | None = None
        self._compiled: dict[tuple[str, bool], Compiled] = {}

    @classmethod
    def from_env(cls, **kwargs: Any) -> Engine:
        """An engine configured from ``SOPHIA_*`` and ``OTEL_*`` environment variables."""
        return cls(Settings(), **kwargs)

    # -- lifetime -------------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        if self._stack is not None:
            raise SophiaError("this engine is already open")
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            with telemetry.use_monitor(self.monitor):
                opened = await open_resources(stack, self.settings, self._options)
        except BaseException:
            await stack.aclose()
            raise
        self.settings, self._resources = opened.settings, opened.resources
        self._durable, self.guards, self.telemetry = opened.durable, opened.guards, opened.telemetry
        cache = opened.resources.cache.as_langgraph_cache() if opened.resources.cache else None
        for spec in self.registry:
            self._compiled[spec.name, False] = spec.build().compile(name=spec.name, cache=cache)
            self._compiled[spec.name, True] = spec.build().compile(
                name=spec.name, cache=cache, checkpointer=opened.durable.checkpointer
            )
        self._stack = stack
        if self._options.freeze_gc:
            freeze_gc()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        self._resources = self._durable = None
        self._compiled.clear()
        if stack is not None:
            await stack.aclose()

    # -- what is open -----------------------------------------------------------------
    @property
    def resources(self) -> Resources:
        """The open resources; EngineNotOpenError when the engine is not open."""
        if self._resources is None:
            raise EngineNotOpenError()
        return self._resources

    @property
    def durable(self) -> Durable:
        """The open checkpoint store and thread records; EngineNotOpenError when not open."""
        if self._durable is None:
            raise EngineNotOpenError()
        return self._durable

    def graph_names(self) -> list[str]:
        """The names of the registered graphs."""
        return self.registry.names()

    def spec(self, name: str) -> GraphSpec:
        """The registered spec of graph `name` (UnknownGraphError lists known names)."""
        return self.registry.get(name)

    def compiled(self, name: str, *, threaded: bool = False) -> Compiled:
        """Graph `name` as compiled for thread-less (or threaded) runs."""
        self.registry.get(name)
        graph = self._compiled.get((name, threaded))
        if graph is None:
            raise EngineNotOpenError()
        return graph

    def state_schema(self, name: str) -> type:
        """The state schema of graph `name` (its ``StateGraph``'s TypedDict or model)."""
        schema: type = self.compiled(name).builder.state_schema
        return schema

    def validate(self, name: str, raw: Any, *, threaded: bool = False) -> RunInput:
        """`raw` validated for graph `name`; pass the result to `invoke`/`stream` as input.

        UnknownGraphError or InvalidInputError (naming each bad field) before anything
        runs; the engine does not validate a `RunInput` again.
        """
        return validate_input(self.registry.get(name), raw, threaded=threaded)

    # -- running graphs -------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
    ) -> dict[str, Any]:
        """Run graph `name` to completion on `input` (raw, or a `RunInput`).

        Returns the graph's output plus ``run_id``, ``trace_id``, ``status`` and
        ``errors`` (a list, empty when every branch succeeded). Raises UnknownGraphError
        or InvalidInputError before anything runs. With `thread_id` the run is durable:
        its state is checkpointed after every superstep, the result also carries
        ``thread_id`` and ``interrupts``, and ``status`` is ``"interrupted"`` when the
        graph paused for a human (continue with `resume`). Checkpoint store failures
        raise CheckpointStoreError (thread-less runs never touch the store).
        """
        run_input = self.validate(name, input, threaded=thread_id is not None)
        run_id = run_id or uuid.uuid4().hex
        if thread_id is not None:
            return await self.threads.run(name, run_input.state, thread_id, run_id)
        spec, graph = self.spec(name), self.compiled(name)
        with run_scope(self.run_book, name, run_id) as run:
            final = await graph.ainvoke(
                run_input.state, context=self.resources, config=run_config(run_id, graph=name)
            )
            return run.finish(result_of(spec, final))

    async def resume(
        self, name: str, thread_id: str, value: Any = None, *, run_id: str | None = None
    ) -> dict[str, Any]:
        """Continue the run on `thread_id`; returns what `invoke` returns.

        An interrupted thread gets ``Command(resume=value)`` (the reviewer's decision);
        an unfinished one (its process died mid-run) continues from its last completed
        superstep without re-running finished nodes. UnknownThreadError for an unknown
        thread, NothingToResumeError when the thread's last run finished.
        """
        self.registry.get(name)
        return await self.threads.resume(name, thread_id, value, run_id or uuid.uuid4().hex)

    async def get_state(self, name: str, thread_id: str) -> StateSnapshot:
        """The latest checkpoint of `thread_id` as LangGraph's `StateSnapshot`.

        ``values`` is the state, ``next`` the nodes still to run, ``interrupts`` what
        the graph waits for. UnknownThreadError if the thread does not exist.
        """
        return await self.threads.get_state(name, thread_id)

    async def get_state_history(
        self, name: str, thread_id: str, *, limit: int | None = None
    ) -> list[StateSnapshot]:
        """The checkpoints of `thread_id`, newest first (one per superstep)."""
        return await self.threads.history(name, thread_id, limit=limit)

    async def stream(
        self, name: str, input: Any = None, *, run_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Run graph `name`, yielding each node's update as it completes.

        Yields ``{"event": "update", "node": ..., "data": ...}`` per node and finally
        ``{"event": "end", "result": ...}`` with the same result `invoke` returns.
        """
        run_input = self.validate(name, input)
        run_id = run_id or uuid.uuid4().hex
        trace_id: str | None = None
        async for _, mode, payload in self._stream(
            name, run_input.state, None, ("updates",), run_id
        ):
            if mode == "metadata":
                trace_id = payload["trace_id"]
            elif mode == "updates":
                for node, update in payload.items():
                    yield {"event": "update", "node": node, "data": update, "run_id": run_id,
                           "trace_id": trace_id}  # fmt: skip
            elif mode == "end":
                yield {"event": "end", "result": payload}

    async def stream_parts(
        self,
        name: str,
        input: Any = None,
        *,
        thread_id: str | None = None,
        command: Command[Any] | None = None,
        modes: tuple[StreamMode, ...] = ("values",),
        run_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        options: StreamOptions | None = None,
    ) -> AsyncIterator[Part]:
        """LangGraph's own ``(namespace, mode, chunk)`` parts of a run (the LangGraph API
        serves these); `options` are LangGraph's own run options
        (`graphs.engine.streaming.StreamOptions`).

        `config` adds ``tags``, ``recursion_limit`` and ``configurable`` keys to the run's
        LangGraph config (`graphs.engine.run_input.run_config`; the engine's own keys win).

        Without `thread_id` the run uses the checkpoint-free graph and `input` is
        validated (None: the default input). With `thread_id`: `command` (e.g.
        ``Command(resume=...)``) continues an interrupted run; ``input=None`` continues
        an unfinished run from its last checkpoint (or starts a new thread with the
        default input); any other input starts a new run on the thread.
        """
        graph_input: Any
        if thread_id is None:
            if command is not None:
                raise InvalidInputError(name, ["command: resuming needs a thread_id"])
            graph_input = self.validate(name, input).state
        else:
            await self.threads.prepare(name, thread_id)
            if command is not None:
                graph_input = command
            elif input is None:
                snapshot = await self.get_state(name, thread_id)
                graph_input = (
                    None if snapshot.values else self.validate(name, None, threaded=True).state
                )
            else:
                graph_input = self.validate(name, input, threaded=True).state
        async for part in self._stream(
            name, graph_input, thread_id, modes, run_id or uuid.uuid4().hex, config, options
        ):
            if part[1] not in ("metadata", "end"):
                yield part

    async def _stream(
        self,
        name: str,
        graph_input: Any,
        thread_id: str | None,
        modes: tuple[StreamMode, ...],
        run_id: str,
        config: Mapping[str, Any] | None = None,
        options: StreamOptions | None = None,
    ) -> AsyncIterator[Part]:
        """``((), "metadata", {run_id, trace_id})``, the parts, ``((), "end", result)``."""
        spec = self.spec(name)
        options = options or StreamOptions()
        run = StreamScope(self.run_book, name, run_id, thread_id=thread_id)
        yield (), "metadata", {"run_id": run_id, "trace_id": run.trace_id}
        graph = self.compiled(name, threaded=thread_id is not None)
        source = graph_parts(
            graph,
            graph_input,
            modes=list(dict.fromkeys(("values", *modes))),
            config=run_config(run_id, thread_id, graph=name, extra=config),
            context=options.context if own_context_schema(graph) else self.resources,
            durability="sync" if thread_id is not None else None,
            options=options,
        )
        final: Any = graph_input if isinstance(graph_input, dict) else None
        try:
            async for ns, mode, chunk in run.iterate(source):
                if mode == "values" and not ns:
                    final = chunk
                if mode in modes or mode == "events":
                    yield ns, mode, chunk
        except Exception as exc:
            run.fail(exc)
            if thread_id is not None and not isinstance(exc, SophiaError) and is_store_failure(exc):
                raise store_unavailable(self.durable, exc) from exc
            raise
        except BaseException as exc:
            run.fail(exc)
            raise
        done = (
            result_of(spec, final)
            if isinstance(final, dict)
            else {"errors": [], "status": "complete"}
        )
        yield (), "end", run.finish(done)

    async def memory_ready(self, timeout_s: float | None = None) -> bool:
        """Wait (at most `timeout_s`) until the memory index is loaded; whether it is.

        Opening the engine does not wait for the index (it loads, or is built by another
        process, in the background); runs meanwhile recall nothing and say why
        (``memory_index`` in the result). Call this where recall must be complete.
        """
        memory = self.resources.memory
        if memory is None:
            return False
        wait = getattr(memory, "wait_ready", None)
        return bool(await wait(timeout_s)) if wait is not None else memory.store is not None

    def stats(self) -> dict[str, Any]:
        """Pool, cache, breaker and monitor figures of the open engine."""
        r = self.resources
        memory: dict[str, Any] | None = None
        if r.memory is not None:
            store = r.memory.store
            memory = store.stats() if store is not None else r.memory.status()
        return {
            "warehouse": r.warehouse.stats(),
            "cache": r.cache.stats() if r.cache else None,
            "memory": memory,
            "breakers": self.guards.stats() if self.guards else {},
            "monitor": self.monitor.snapshot(),
        }
