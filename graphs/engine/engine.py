"""The Engine: opens the shared resources once and runs registered graphs with them.

    async with Engine.from_env() as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})

Resources (warehouse pool, tiered cache, memory store, tracing) are opened in
``__aenter__`` and closed in ``__aexit__``, in reverse order; they reach nodes as
LangGraph runtime context (`nodes.context.Resources`). Each registered graph is
compiled twice when the engine opens: without a checkpointer for thread-less runs (no
checkpoint writes, as fast as before) and with the checkpointer (`graphs.durable.store`) for
threaded runs, whose state persists after every superstep so that a run whose process
died resumes from its last completed superstep:

    await engine.invoke("deal_review", {"require_approval": True}, thread_id="t-1")
    await engine.resume("deal_review", "t-1", {"decision": "approve"})
    snapshot = await engine.get_state("deal_review", "t-1")
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.cache.base import BaseCache
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability, StateSnapshot, StreamMode

import telemetry
from graphs.durable.store import Durable, open_durable, open_durable_with
from graphs.engine.registry import GraphRegistry, GraphSpec
from graphs.engine.run_scope import StreamScope, result_of, run_scope
from graphs.seeding.memory import memory_path, open_memory_store
from graphs.seeding.warehouse import seed_if_missing
from nodes.context import Resources
from nodes.risk_detector import load_detector
from stores.cache.tiered import TieredCache
from stores.errors import (
    CheckpointStoreUnavailableError,
    ConfigurationError,
    InvalidInputError,
    NothingToResumeError,
    SophiaError,
    UnknownThreadError,
)
from stores.llm.select import open_models
from stores.resilience.guards import ResilienceRegistry
from stores.settings import Settings
from stores.warehouse.backends.url import parse_warehouse_url
from stores.warehouse.warehouse import Warehouse

logger = logging.getLogger(__name__)


def default_registry() -> GraphRegistry:
    """The graphs that ship with the engine."""
    from graphs.workflows import deal_review, memory_recall

    return GraphRegistry([deal_review.SPEC, memory_recall.SPEC])


class Engine:
    """Runs registered LangGraph workflows on shared, pooled resources.

    Construct it with explicit `settings` (or use `Engine.from_env()`), then open it with
    ``async with``. It is safe to run many invocations concurrently on one engine.
    `checkpointer` replaces the store of threaded runs (default: `graphs.durable.store`,
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
        configure_telemetry: bool = True,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.registry = registry or default_registry()
        self._llm = llm
        self._auto_seed = auto_seed
        self._on_seed = on_seed or (lambda message: logger.info("%s", message))
        self._configure_telemetry = configure_telemetry
        self._stack: contextlib.AsyncExitStack | None = None
        self._resources: Resources | None = None
        self._compiled: dict[str, CompiledStateGraph[Any, Any, Any, Any]] = {}
        self._threaded: dict[str, CompiledStateGraph[Any, Any, Any, Any]] = {}
        self._checkpointer = checkpointer
        self._durable: Durable | None = None
        self.telemetry: telemetry.Telemetry | None = None
        self.guards: ResilienceRegistry | None = None

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
            await self._open(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        self._resources = None
        self._durable = None
        self._compiled.clear()
        self._threaded.clear()
        if stack is not None:
            await stack.aclose()

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        # Filesystem calls go to a thread: the engine opens inside servers' event loops.
        s = self.settings = await asyncio.to_thread(self.settings.with_absolute_paths)
        await asyncio.to_thread(s.data_dir.mkdir, parents=True, exist_ok=True)
        if self._configure_telemetry:
            self.telemetry = telemetry.configure(
                file_path=(s.data_dir / "traces.jsonl") if s.trace_file else None
            )
            stack.callback(self.telemetry.shutdown)
        self.guards = ResilienceRegistry.from_settings(s)
        url = await self._warehouse_url()
        cache = await stack.enter_async_context(
            TieredCache(
                redis_url=s.redis_url,
                l1_max_entries=s.l1_max_entries,
                l1_max_bytes=s.l1_max_bytes,
                guard=self.guards.guard("redis") if s.redis_url else None,
            )
        )
        warehouse = await stack.enter_async_context(
            Warehouse.open(
                url,
                min_size=s.pool_min_size,
                max_size=s.pool_max_size,
                acquire_timeout_s=s.pool_acquire_timeout_s,
                query_timeout_s=s.query_timeout_s,
                cache=cache,
                guard=self.guards.guard("warehouse"),
            )
        )
        if not await asyncio.to_thread((memory_path(s.data_dir) / "CURRENT").exists):
            logger.info(
                "no memory index under %s: recall finds nothing until `sophia seed`", s.data_dir
            )
        # The models SOPHIA_LLM / SOPHIA_EMBEDDINGS name (Cortex) and the risk taxonomy.
        models = open_models(s, warehouse, cache, self.guards)
        risks = await asyncio.to_thread(load_detector, s.risk_taxonomy)
        memory = await stack.enter_async_context(
            open_memory_store(s.data_dir, cache, models.embeddings, models.embedding_dims)
        )
        self._resources = Resources(
            warehouse=warehouse,
            settings=s,
            cache=cache,
            memory=memory,
            llm=self._llm or models.llm,
            guards=self.guards,
            risks=risks,
        )
        if self._checkpointer is not None:
            durable_cm = open_durable_with(self._checkpointer)
        else:
            durable_cm = open_durable(s)
        self._durable = durable = await stack.enter_async_context(durable_cm)
        for spec in self.registry:
            self._compiled[spec.name] = spec.build().compile(
                name=spec.name, cache=self._graph_cache(cache)
            )
            self._threaded[spec.name] = spec.build().compile(
                name=spec.name, cache=self._graph_cache(cache), checkpointer=durable.checkpointer
            )
        if s.gc_freeze:
            # The memory index is ~1M long-lived objects; full collections walking them
            # paused every run for 100+ ms now and then (p99 spikes). Frozen objects are
            # never collected: do it once, last thing when opening, on a clean heap.
            gc.collect()
            gc.freeze()

    @staticmethod
    def _graph_cache(cache: TieredCache) -> BaseCache[Any]:
        return cache.as_langgraph_cache()

    async def _warehouse_url(self) -> str:
        """The warehouse URL; the default embedded file is seeded first when asked to."""
        s = self.settings
        url = s.resolved_warehouse_url
        parsed = parse_warehouse_url(url)
        if parsed.scheme != "duckdb" or parsed.path == ":memory:":
            return url
        if self._auto_seed:
            await seed_if_missing(s, progress=self._on_seed)
        elif not await asyncio.to_thread(Path(parsed.path).exists):
            raise ConfigurationError(
                f"the warehouse {parsed.path} does not exist; run `sophia seed` to create the "
                "demo warehouse, or set SOPHIA_WAREHOUSE_URL"
            )
        # The engine only reads; read-only lets several processes share the file.
        return url if "?" in url else f"{url}?read_only=true"

    # -- running graphs -------------------------------------------------------------
    @property
    def resources(self) -> Resources:
        """The open resources; SophiaError when the engine is not open."""
        if self._resources is None:
            raise SophiaError("the engine is not open: use `async with engine:`")
        return self._resources

    def graph_names(self) -> list[str]:
        """The names of the registered graphs."""
        return self.registry.names()

    def spec(self, name: str) -> GraphSpec:
        """The registered spec of graph `name` (UnknownGraphError lists known names)."""
        return self.registry.get(name)

    def _prepare(self, name: str, raw_input: Any) -> tuple[GraphSpec, Any, dict[str, Any]]:
        spec = self.registry.get(name)
        state = spec.validate(raw_input)
        resources = self.resources
        return spec, self._compiled[name], {"state": state, "context": resources}

    async def invoke(
        self,
        name: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
    ) -> dict[str, Any]:
        """Run graph `name` to completion on `input`.

        Returns the graph's output plus ``run_id``, ``trace_id`` and ``errors`` (a list,
        empty when every branch succeeded). Raises UnknownGraphError or
        InvalidInputError before anything runs. With `thread_id` the run is durable:
        its state is checkpointed after every superstep, the result also carries
        ``thread_id`` and ``interrupts``, and ``status`` is ``"interrupted"`` when the
        graph paused for a human (continue with `resume`). Checkpoint store failures
        raise CheckpointStoreError (thread-less runs never touch the store).
        """
        if thread_id is not None:
            spec = self.registry.get(name)
            return await self._run_threaded(spec, spec.validate(input), thread_id, run_id)
        spec, graph, prepared = self._prepare(name, input)
        if prepared["state"].get("require_approval"):
            raise InvalidInputError(
                name, ["require_approval: a run that pauses for approval needs a thread_id"]
            )
        run_id = run_id or uuid.uuid4().hex
        with run_scope(name, run_id) as run:
            final = await graph.ainvoke(
                prepared["state"],
                context=prepared["context"],
                config={"run_id": uuid.UUID(run_id), "recursion_limit": 50},
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
        spec = self.registry.get(name)
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
        return await self._run_threaded(spec, command, thread_id, run_id)

    async def get_state(self, name: str, thread_id: str) -> StateSnapshot:
        """The latest checkpoint of `thread_id` as LangGraph's `StateSnapshot`.

        ``values`` is the state, ``next`` the nodes still to run, ``interrupts`` what
        the graph waits for. UnknownThreadError if the thread does not exist.
        """
        await self._known_thread(thread_id)
        return await self._guard_store(
            self.threaded_graph(name).aget_state(self.thread_config(thread_id))
        )

    async def get_state_history(
        self, name: str, thread_id: str, *, limit: int | None = None
    ) -> list[StateSnapshot]:
        """The checkpoints of `thread_id`, newest first (one per superstep)."""
        await self._known_thread(thread_id)
        graph = self.threaded_graph(name)

        async def collect() -> list[StateSnapshot]:
            config = self.thread_config(thread_id)
            return [s async for s in graph.aget_state_history(config, limit=limit)]

        return await self._guard_store(collect())

    @property
    def durable(self) -> Durable:
        """The open checkpoint store and thread records; SophiaError when not open."""
        if self._durable is None:
            raise SophiaError("the engine is not open: use `async with engine:`")
        return self._durable

    def threaded_graph(self, name: str) -> CompiledStateGraph[Any, Any, Any, Any]:
        """Graph `name` compiled with the checkpointer (UnknownGraphError if unknown)."""
        self.registry.get(name)
        if name not in self._threaded:
            raise SophiaError("the engine is not open: use `async with engine:`")
        return self._threaded[name]

    @staticmethod
    def thread_config(thread_id: str, run_id: str | None = None) -> RunnableConfig:
        """The LangGraph config of a run on `thread_id`."""
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "recursion_limit": 50}
        if run_id is not None:
            config["run_id"] = uuid.UUID(run_id)
        return config

    async def prepare_thread(self, name: str, thread_id: str) -> None:
        """Check the store is up and record that `thread_id` runs graph `name`."""
        self.registry.get(name)
        await self.durable.ensure_ready()
        await self.durable.threads.attach(thread_id, name)

    async def _known_thread(self, thread_id: str) -> None:
        await self.durable.ensure_ready()
        if not await self.durable.threads.exists(thread_id):
            raise UnknownThreadError(thread_id)

    async def _guard_store(self, work: Any) -> Any:
        """Await `work`, turning checkpoint store driver errors into CheckpointStoreError."""
        try:
            return await work
        except SophiaError:
            raise
        except Exception as exc:
            if _is_store_failure(exc):
                raise CheckpointStoreUnavailableError(
                    f"the {self.durable.backend} checkpoint store at {self.durable.location} "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
            raise

    async def _run_threaded(
        self, spec: GraphSpec, graph_input: Any, thread_id: str, run_id: str | None
    ) -> dict[str, Any]:
        await self.prepare_thread(spec.name, thread_id)
        graph = self._threaded[spec.name]
        run_id = run_id or uuid.uuid4().hex
        with run_scope(spec.name, run_id, thread_id=thread_id) as run:
            final = await self._guard_store(
                graph.ainvoke(
                    graph_input,
                    context=self.resources,
                    config=self.thread_config(thread_id, run_id),
                    durability="sync",
                )
            )
            result = run.finish(result_of(spec, dict(final)))
        return {"interrupts": [], **result, "thread_id": thread_id}

    async def stream(
        self, name: str, input: Any = None, *, run_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Run graph `name`, yielding each node's update as it completes.

        Yields ``{"event": "update", "node": ..., "data": ...}`` per node and finally
        ``{"event": "end", "result": ...}`` with the same result `invoke` returns.
        """
        spec, graph, prepared = self._prepare(name, input)
        run_id = run_id or uuid.uuid4().hex
        run = StreamScope(name, run_id)
        final: dict[str, Any] = dict(prepared["state"])
        source = graph.astream(
            prepared["state"],
            context=prepared["context"],
            stream_mode=["updates", "values"],
            config={"run_id": uuid.UUID(run_id), "recursion_limit": 50},
        )
        try:
            async for mode, payload in run.iterate(source):
                if mode == "values":
                    final = payload
                    continue
                for node, update in payload.items():
                    yield {
                        "event": "update",
                        "node": node,
                        "data": update,
                        "run_id": run_id,
                        "trace_id": run.trace_id,
                    }
        except BaseException as exc:
            run.fail(exc)
            raise
        yield {"event": "end", "result": run.finish(result_of(spec, final))}

    async def stream_modes(
        self,
        name: str,
        input: Any = None,
        *,
        thread_id: str | None = None,
        command: Command[Any] | None = None,
        modes: tuple[StreamMode, ...] = ("values",),
        run_id: str | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """LangGraph's own ``(mode, chunk)`` stream of a run (the SDK API serves these).

        Without `thread_id` the run uses the checkpoint-free graph and `input` is
        validated (None: the default input). With `thread_id`: `command` (e.g.
        ``Command(resume=...)``) continues an interrupted run; ``input=None`` continues
        an unfinished run from its last checkpoint (or starts a new thread with the
        default input); any other input starts a new run on the thread.
        """
        spec = self.registry.get(name)
        graph_input: Any
        if thread_id is None:
            if command is not None:
                raise InvalidInputError(name, ["command: resuming needs a thread_id"])
            graph = self._compiled[name]
            graph_input = spec.validate(input)
            if graph_input.get("require_approval"):
                raise InvalidInputError(
                    name, ["require_approval: a run that pauses for approval needs a thread_id"]
                )
            config: RunnableConfig = {"recursion_limit": 50}
            durability: Durability | None = None
        else:
            await self.prepare_thread(name, thread_id)
            graph = self._threaded[name]
            config, durability = self.thread_config(thread_id), "sync"
            if command is not None:
                graph_input = command
            elif input is None:
                snapshot = await self.get_state(name, thread_id)
                graph_input = None if snapshot.values else spec.validate(None)
            else:
                graph_input = spec.validate(input)
        run_id = run_id or uuid.uuid4().hex
        config["run_id"] = uuid.UUID(run_id)
        run = StreamScope(name, run_id, thread_id=thread_id)
        source = graph.astream(
            graph_input,
            context=self.resources,
            stream_mode=list(modes),
            config=config,
            durability=durability,
        )
        final: Any = None
        try:
            async for mode, chunk in run.iterate(source):
                if mode == "values":
                    final = chunk
                yield mode, chunk
        except Exception as exc:
            run.fail(exc)
            if (
                thread_id is not None
                and not isinstance(exc, SophiaError)
                and _is_store_failure(exc)
            ):
                raise CheckpointStoreUnavailableError(
                    f"the {self.durable.backend} checkpoint store at {self.durable.location} "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
            raise
        except BaseException as exc:
            run.fail(exc)
            raise
        run.finish(
            result_of(spec, final)
            if isinstance(final, dict)
            else {"errors": [], "status": "complete"}
        )

    def stats(self) -> dict[str, Any]:
        """Pool, cache, breaker and monitor figures of the open engine."""
        r = self.resources
        return {
            "warehouse": r.warehouse.stats(),
            "cache": r.cache.stats() if r.cache else None,
            "memory": r.memory.stats() if r.memory and hasattr(r.memory, "stats") else None,
            "breakers": self.guards.stats() if self.guards else {},
            "monitor": telemetry.monitor_snapshot(),
        }


def _is_store_failure(exc: BaseException) -> bool:
    """True for errors raised by the checkpoint store drivers (psycopg, sqlite)."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in {"psycopg", "psycopg_pool", "sqlite3", "aiosqlite"}
