"""Entry points for LangGraph's own tooling (``langgraph dev``, Studio, the Agent Server).

``langgraph.json`` names the graph factories below. Each is an async context manager
that yields a compiled graph ready to run on the process's one shared `Engine`: the
engine (warehouse pool, cache, memory store) is opened in the server's lifespan (`app`,
named under ``http.app``) or, outside a server, on first use; nothing is opened at
import time and nothing blocks the event loop.

LangGraph's server passes its own runtime context to the graphs it runs, so the
engine's resources cannot reach the nodes that way. Each factory therefore yields a
small wrapper graph: its input is the graph's input model, and its one node validates
the input and runs the real graph as a subgraph with the engine's resources as context
(stream with ``subgraphs=True`` to see every inner node's update).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from starlette.applications import Starlette

from graphs.engine.engine import Engine
from stores.settings import Settings


class SharedEngine:
    """One Engine per process, opened on first use and closed by `close()`."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Engine:
        """The open engine (configured from ``SOPHIA_*``; the demo data is seeded if absent)."""
        if self._engine is not None:
            return self._engine
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._engine is None:
                engine = Engine(Settings(), auto_seed=True, configure_telemetry=True)
                await engine.__aenter__()
                self._engine = engine
        return self._engine

    async def close(self) -> None:
        """Close the engine if it was opened."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.__aexit__(None, None, None)


SHARED = SharedEngine()


def bound_graph(engine: Engine, name: str) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Graph `name` compiled so that it runs on `engine`'s resources without a context.

    The wrapper's input schema is the graph's input model (what Studio shows as a form);
    its output is the real graph's final state.
    """
    spec = engine.spec(name)
    builder = spec.build()
    inner = builder.compile(name=name)
    fields = set(spec.input_model.model_fields)

    async def run(state: Any) -> dict[str, Any]:
        initial = spec.validate({k: v for k, v in state.items() if k in fields and v is not None})
        final: dict[str, Any] = await inner.ainvoke(initial, context=engine.resources)
        return final

    outer: StateGraph[Any, Any, Any, Any] = StateGraph(
        builder.state_schema,
        input_schema=spec.input_model,
    )
    outer.add_node(name, run)
    outer.add_edge(START, name)
    outer.add_edge(name, END)
    return outer.compile(name=name)


@contextlib.asynccontextmanager
async def _factory(name: str) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    engine = await SHARED.get()
    yield bound_graph(engine, name)


@contextlib.asynccontextmanager
async def deal_review(
    config: RunnableConfig,
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """Factory of the deal review graph for ``langgraph.json``."""
    async with _factory("deal_review") as graph:
        yield graph


@contextlib.asynccontextmanager
async def memory_recall(
    config: RunnableConfig,
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """Factory of the memory recall graph for ``langgraph.json``."""
    async with _factory("memory_recall") as graph:
        yield graph


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    await SHARED.get()
    try:
        yield
    finally:
        await SHARED.close()


app = Starlette(lifespan=_lifespan)
"""The ``http.app`` of ``langgraph.json``: opens the shared engine at server start and
closes it at shutdown (LangGraph's server runs this app's lifespan)."""
