"""The deal review workflow: four source agents in parallel, three analyses, synthesis.

    START ─┬─ hubspot ─┐
           ├─ gong ────┼─ sales_analysis ─────────┐
           ├─ slack ───┼─ communication_analysis ─┼─ synthesis ─ END
           ├─ linear ──┴─ project_analysis ───────┤
           └─ memory (past calls and Slack of the deal's company)

Every agent and analysis node is wrapped by `nodes.isolation.isolated`: a node that
raises or times out leaves an error in the state and the run completes with the other
branches' results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphs.engine.registry import GraphSpec
from nodes import approval
from nodes.analysis import communication_analysis, project_analysis, sales_analysis
from nodes.context import Resources
from nodes.isolation import NodeFn, isolated
from nodes.memory import deal_memory_agent
from nodes.sources import gong_agent, hubspot_agent, linear_agent, slack_agent
from nodes.state import DealReviewState
from nodes.synthesis import synthesis
from stores.demo.data import DEFAULT_DEAL_ID
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
MAX_DEALS = 1000
SERVER_OWNED = frozenset({
    *AGENTS, *ANALYSES, "memories", "report", "require_approval", "errors", "timings",
})  # fmt: skip
AGENT_RETRY = RetrySettings(attempts=2, initial_s=0.05, max_s=0.5)


class DealReviewInput(BaseModel):
    """Input of `deal_review`: the deals to review (default: the demo deal)."""

    model_config = ConfigDict(extra="forbid")

    deal_ids: list[str] = Field(
        default_factory=lambda: [DEFAULT_DEAL_ID],
        min_length=1,
        max_length=MAX_DEALS,
        description="HubSpot deal ids, e.g. D-00001.",
    )
    require_approval: bool = Field(
        default=False,
        description="Pause before the report is final when a deal is at risk, until a "
        "reviewer approves or rejects (needs a thread; resume with the decision).",
    )

    @field_validator("deal_ids")
    @classmethod
    def _clean(cls, ids: list[str]) -> list[str]:
        cleaned = [i.strip() for i in ids]
        if any(not i for i in cleaned):
            raise ValueError("deal ids must be non-empty strings")
        return list(dict.fromkeys(cleaned))


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
    for name, fn in chosen.items():
        node = isolated(name, fn, timeout_s=limits.get(name), retry_attempts=retry.max_attempts)
        graph.add_node(name, node, retry_policy=retry)  # type: ignore[call-overload]
        graph.add_edge(START, name)
    for name, (fn, sources) in ANALYSES.items():
        graph.add_node(name, isolated(name, fn, timeout_s=limits.get(name), kind="analysis"))  # type: ignore[call-overload]
        graph.add_edge(list(sources), name)
    # Memory recall runs beside the agents; synthesis waits for it and the analyses.
    graph.add_node(
        "memory",
        isolated("memory", deal_memory_agent, timeout_s=limits.get("memory"), kind="vector_search"),
    )  # type: ignore[call-overload]
    graph.add_edge(START, "memory")
    graph.add_node(
        "synthesis",
        isolated("synthesis", synthesis, timeout_s=limits.get("synthesis"), kind="analysis"),
    )  # type: ignore[call-overload]
    graph.add_edge([*ANALYSES, "memory"], "synthesis")
    graph.add_edge("synthesis", END)
    return graph


def shape_output(state: dict[str, Any]) -> dict[str, Any]:
    """Per deal: the facts of each source, the analyses and the report."""
    deals: dict[str, Any] = {}
    for deal_id in state.get("deal_ids", []):
        deals[deal_id] = {
            "facts": {src: (state.get(src) or {}).get(deal_id) for src in AGENTS},
            "analysis": {k: (state.get(k) or {}).get(deal_id) for k in ANALYSES},
            "report": (state.get("report") or {}).get(deal_id),
            "memories": (state.get("memories") or {}).get(deal_id, []),
        }
    return {
        "deal_ids": state.get("deal_ids", []),
        "deals": deals,
        "timings": state.get("timings", {}),
    }


SPEC = GraphSpec(
    name="deal_review",
    description="Review deals across HubSpot, Gong, Slack and Linear: facts, analyses and a "
    "health score with its reasons.",
    build=build_graph,
    input_model=DealReviewInput,
    shape_output=shape_output,
    # What the nodes computed, the report with its approvals, and the approval gate: a
    # command may not write them (only the deal ids are the caller's to change), nor jump
    # past the approval step; an approval is answered by a checked decision whose
    # reviewer is the answering caller.
    server_owned=SERVER_OWNED,
    resume_validators={approval.KIND: approval.approval_answer},
)
