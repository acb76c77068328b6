"""The deal review's graph: the node functions wired into a LangGraph `StateGraph`.

Imported only when the graph is built (`graphs.workflows.deal_review.build_graph`), so
that listing the graphs and checking an input cost no node imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph import END, START, StateGraph

from nodes.analysis import communication_analysis, project_analysis, sales_analysis
from nodes.context import Resources
from nodes.isolation import NodeFn, isolated
from nodes.memory import deal_memory_agent
from nodes.pipeline import select_deals
from nodes.sources import gong_agent, hubspot_agent, linear_agent, slack_agent
from nodes.state import DealReviewState
from nodes.synthesis import synthesis
from stores.resilience.retry import RetrySettings, langgraph_retry_policy

AGENTS: dict[str, NodeFn] = {
    "hubspot": hubspot_agent,
    "gong": gong_agent,
    "slack": slack_agent,
    "linear": linear_agent,
}
ANALYSES: dict[str, tuple[NodeFn, tuple[str, ...]]] = {
    "sales_analysis": (sales_analysis, ("hubspot", "gong")),
    "communication_analysis": (communication_analysis, ("slack",)),
    "project_analysis": (project_analysis, ("linear",)),
}
AGENT_RETRY = RetrySettings(attempts=2, initial_s=0.05, max_s=0.5)


def _route(state: DealReviewState) -> list[str]:
    """Straight to the sources with named deals; through `select` with a selection."""
    if state.get("selection") and not state.get("deal_ids"):
        return ["select"]
    return [*AGENTS, "memory"]


def build_graph(
    agents: Mapping[str, NodeFn] | None = None,
    *,
    timeouts: Mapping[str, float] | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled deal review graph.

    `agents` replaces source agents by name (tests use it to make a branch slow or
    failing; users to plug in their own source); `timeouts` sets per-node timeouts in
    seconds (default: the engine's ``node_timeout_s``).
    """
    chosen = {**AGENTS, **(agents or {})}
    unknown = set(chosen) - set(AGENTS)
    if unknown:
        raise ValueError(f"unknown agents {sorted(unknown)}; the deal review has {sorted(AGENTS)}")
    limits = dict(timeouts or {})
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(DealReviewState, context_schema=Resources)
    # A source that fails transiently gets one more try through LangGraph's RetryPolicy,
    # unless a guard already retried the error: a warehouse statement is retried by the
    # warehouse guard alone (stores.resilience.budget), so it never runs 2 x 2 times.
    retry = langgraph_retry_policy(AGENT_RETRY)
    select = isolated("select", select_deals, timeout_s=limits.get("select"),
                      retry_attempts=retry.max_attempts)  # fmt: skip
    graph.add_node("select", select, retry_policy=retry)  # type: ignore[call-overload]
    graph.add_conditional_edges(START, _route, ["select", *chosen, "memory"])
    for name, fn in chosen.items():
        node = isolated(name, fn, timeout_s=limits.get(name), retry_attempts=retry.max_attempts)
        graph.add_node(name, node, retry_policy=retry)  # type: ignore[call-overload]
        graph.add_edge("select", name)
    for name, (fn, sources) in ANALYSES.items():
        graph.add_node(name, isolated(name, fn, timeout_s=limits.get(name), kind="analysis"))  # type: ignore[call-overload]
        graph.add_edge(list(sources), name)
    # Memory recall runs beside the agents; synthesis waits for it and the analyses.
    graph.add_node(
        "memory",
        isolated("memory", deal_memory_agent, timeout_s=limits.get("memory"), kind="vector_search"),
    )  # type: ignore[call-overload]
    graph.add_edge("select", "memory")
    graph.add_node(
        "synthesis",
        isolated("synthesis", synthesis, timeout_s=limits.get("synthesis"), kind="analysis"),
    )  # type: ignore[call-overload]
    graph.add_edge([*ANALYSES, "memory"], "synthesis")
    graph.add_edge("synthesis", END)
    return graph
