"""The bench graph for `bench.durable`: one node that waits 50 ms, like an LLM call.

Served by both sides of the comparison: `langgraph dev` loads ``graph`` from this file
(path given in a generated ``langgraph.json``), and the engine registers ``build()``.
It imports nothing of ours, so `langgraph dev` can load it from its own environment.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

NODE_MS = float(os.environ.get("SOPHIA_BENCH_NODE_MS", "50"))


class SleeperState(TypedDict, total=False):
    """Input ``n`` (any int); the node writes ``done``."""

    n: int
    done: bool


async def work(state: SleeperState) -> dict[str, Any]:
    """Wait `NODE_MS` milliseconds, then mark the run done."""
    await asyncio.sleep(NODE_MS / 1000)
    return {"done": True}


def build() -> StateGraph[Any, Any, Any, Any]:
    """START -> work -> END, uncompiled."""
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(SleeperState)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph


graph = build().compile()
