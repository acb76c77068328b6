"""The Engine: opens the shared resources once and runs registered graphs with them.

    async with Engine.from_env() as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})

Resources (warehouse pool, tiered cache, memory store, tracing) are opened in
``__aenter__`` and closed in ``__aexit__``, in reverse order; they reach nodes as
LangGraph runtime context (`nodes.context.Resources`). Each registered graph is
compiled once, when the engine opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.cache.base import BaseCache
from langgraph.graph.state import CompiledStateGraph

import telemetry
from graphs.memory_seed import memory_path, open_memory_store
from graphs.registry import GraphRegistry, GraphSpec
from graphs.seeding import seed_all
from nodes.context import Resources
from stores.backends.url import parse_warehouse_url
from stores.cache import TieredCache
from stores.errors import ConfigurationError, SophiaError
from stores.resilience import ResilienceRegistry
from stores.settings import Settings
from stores.warehouse import Warehouse

logger = logging.getLogger(__name__)


def default_registry() -> GraphRegistry:
    """The graphs that ship with the engine."""
    from graphs import deal_review, memory_recall

    return GraphRegistry([deal_review.SPEC, memory_recall.SPEC])


class Engine:
    """Runs registered LangGraph workflows on shared, pooled resources.

    Construct it with explicit `settings` (or use `Engine.from_env()`), then open it with
    ``async with``. It is safe to run many invocations concurrently on one engine.
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
        self._compiled.clear()
        if stack is not None:
            await stack.aclose()

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
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
        if not (memory_path(s.data_dir) / "CURRENT").exists():
            logger.info(
                "no memory index under %s: recall finds nothing until `sophia seed`", s.data_dir
            )
        memory = await stack.enter_async_context(open_memory_store(s.data_dir, cache))
        self._resources = Resources(
            warehouse=warehouse,
            settings=s,
            cache=cache,
            memory=memory,
            llm=self._llm,
            guards=self.guards,
        )
        for spec in self.registry:
            self._compiled[spec.name] = spec.build().compile(
                name=spec.name, cache=self._graph_cache(cache)
            )

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
        path = Path(parsed.path)
        if not await asyncio.to_thread(path.exists):
            if not self._auto_seed:
                raise ConfigurationError(
                    f"the warehouse {path} does not exist; run `sophia seed` to create the "
                    "demo warehouse, or set SOPHIA_WAREHOUSE_URL"
                )
            self._on_seed(f"No warehouse at {path}: seeding the demo data (first run only)...")
            await seed_all(s, progress=self._on_seed)
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
        self, name: str, input: Any = None, *, run_id: str | None = None
    ) -> dict[str, Any]:
        """Run graph `name` to completion on `input`.

        Returns the graph's output plus ``run_id``, ``trace_id`` and ``errors`` (a list,
        empty when every branch succeeded). Raises UnknownGraphError or
        InvalidInputError before anything runs.
        """
        spec, graph, prepared = self._prepare(name, input)
        run_id = run_id or uuid.uuid4().hex
        with telemetry.run_span(name, run_id) as span:
            with telemetry.monitor(f"run.{name}", kind="run"):
                final = await graph.ainvoke(
                    prepared["state"],
                    context=prepared["context"],
                    config={"run_id": uuid.UUID(run_id), "recursion_limit": 50},
                )
            trace_id = telemetry.current_trace_id()
            errors = list(final.get("errors") or [])
            span.set_attribute("sophia.run.errors", len(errors))
            span.set_attribute("sophia.run.status", "partial" if errors else "complete")
        return {
            **spec.shape_output(final),
            "run_id": run_id,
            "trace_id": trace_id,
            "errors": errors,
            "status": "partial" if errors else "complete",
        }

    async def stream(
        self, name: str, input: Any = None, *, run_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Run graph `name`, yielding each node's update as it completes.

        Yields ``{"event": "update", "node": ..., "data": ...}`` per node and finally
        ``{"event": "end", "result": ...}`` with the same result `invoke` returns.
        """
        spec, graph, prepared = self._prepare(name, input)
        run_id = run_id or uuid.uuid4().hex
        # The run span is never held open across a `yield` (the consumer's own spans
        # would land in the run's trace, and an abandoned stream would detach the
        # context in the wrong place): it is made current only while LangGraph works.
        run = telemetry.run_span(name, run_id)
        trace_id = run.start()
        final: dict[str, Any] = dict(prepared["state"])
        source = graph.astream(
            prepared["state"],
            context=prepared["context"],
            stream_mode=["updates", "values"],
            config={"run_id": uuid.UUID(run_id), "recursion_limit": 50},
        )
        try:
            async for mode, payload in telemetry.iterate_in_span(run.span, source):
                if mode == "values":
                    final = payload
                    continue
                for node, update in payload.items():
                    yield {
                        "event": "update",
                        "node": node,
                        "data": update,
                        "run_id": run_id,
                        "trace_id": trace_id,
                    }
        except BaseException as exc:
            run.finish(exc)
            raise
        errors = list(final.get("errors") or [])
        run.span.set_attribute("sophia.run.status", "partial" if errors else "complete")
        run.finish()
        yield {
            "event": "end",
            "result": {
                **spec.shape_output(final),
                "run_id": run_id,
                "trace_id": trace_id,
                "errors": errors,
                "status": "partial" if errors else "complete",
            },
        }

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
