"""The memory recall workflow: semantic search over past calls and Slack messages."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from graphs.engine.registry import GraphSpec
from nodes.state import NodeError, NodeTiming, merge_dicts

if TYPE_CHECKING:
    from langgraph.graph import StateGraph


class MemoryRecallInput(BaseModel):
    """Input of `memory_recall`: what to look for, and optionally where."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        default="pricing concerns and competitor offers",
        min_length=1,
        max_length=2000,
        description="What to recall, in plain words.",
    )
    company_id: str | None = Field(default=None, description="Only this company's memories.")
    source: Literal["gong", "slack"] | None = Field(
        default=None, description="Only calls or only Slack (needs company_id)."
    )
    limit: int = Field(default=5, ge=1, le=100)


class MemoryRecallState(TypedDict, total=False):
    """The state of `memory_recall`."""

    query: str
    company_id: str | None
    source: str | None
    limit: int
    memories: list[dict[str, Any]]
    memory_index: dict[str, Any]
    errors: Annotated[list[NodeError], operator.add]
    timings: Annotated[dict[str, NodeTiming], merge_dicts]


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    """START → recall → END."""
    from langgraph.graph import END, START, StateGraph

    from nodes.context import Resources
    from nodes.isolation import isolated
    from nodes.memory import memory_recall_node

    graph: StateGraph[Any, Any, Any, Any] = StateGraph(MemoryRecallState, context_schema=Resources)
    graph.add_node("recall", isolated("recall", memory_recall_node, kind="vector_search"))  # type: ignore[call-overload]
    graph.add_edge(START, "recall")
    graph.add_edge("recall", END)
    return graph


def shape_output(state: dict[str, Any]) -> dict[str, Any]:
    """The query and the memories found, best first."""
    return {
        "query": state.get("query"),
        "company_id": state.get("company_id"),
        "memories": state.get("memories", []),
        **({"memory_index": state["memory_index"]} if state.get("memory_index") else {}),
        "timings": state.get("timings", {}),
    }


SPEC = GraphSpec(
    name="memory_recall",
    description="Recall the past Gong calls and Slack messages closest to a query "
    "(HNSW vector search), optionally within one company.",
    build=build_graph,
    input_model=MemoryRecallInput,
    shape_output=shape_output,
)
