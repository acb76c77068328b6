"""The deal review workflow: four source agents in parallel, three analyses, synthesis.

    START ─┬─ hubspot ─┐          (with a pipeline selection: START ─ select ─ the same)
           ├─ gong ────┼─ sales_analysis ─────────┐
           ├─ slack ───┼─ communication_analysis ─┼─ synthesis ─ END
           ├─ linear ──┴─ project_analysis ───────┤
           └─ memory (past calls and Slack of the deal's company)

Every agent and analysis node is wrapped by `nodes.isolation.isolated`: a node that
raises or times out leaves an error in the state and the run completes with the other
branches' results.

This module holds what a caller sees: the input model, the initial state and the shape of
the result; the graph itself is built from `graphs.workflows.deal_review_graph` when an
engine compiles it, so that listing graphs and checking input import no node code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphs.engine.registry import GraphSpec
from nodes import approval
from nodes.selection import DEFAULT_LIMIT
from stores.demo.ids import DEFAULT_DEAL_ID

if TYPE_CHECKING:
    from langgraph.graph import StateGraph

    from nodes.isolation import NodeFn

AGENT_NAMES = ("hubspot", "gong", "slack", "linear")
"""The source agents, in the order reports list them."""
ANALYSIS_NAMES = ("sales_analysis", "communication_analysis", "project_analysis")
MAX_DEALS = 1000
SELECTION_FIELDS = ("owner", "stages", "closing_before", "min_amount", "limit")
SERVER_OWNED = frozenset({
    *AGENT_NAMES, *ANALYSIS_NAMES, "memories", "memory_index", "report", "review_as_of",
    "requested_at",
    "require_approval", "errors", "timings",
})  # fmt: skip
"""State keys only the graph's nodes write: a command's ``update`` may change the deals,
the selection or the as-of time, nothing the review computed (`graphs.engine.commands`)."""


class DealReviewInput(BaseModel):
    """Input of `deal_review`: the deals to review, named (`deal_ids`) or selected
    (`owner`, `stages`, `closing_before`, `min_amount`, `limit`); neither: the demo deal."""

    model_config = ConfigDict(extra="forbid")

    deal_ids: list[str] = Field(
        default_factory=list,
        min_length=1,
        max_length=MAX_DEALS,
        description="HubSpot deal ids, e.g. D-00001 (instead of a selection).",
    )
    owner: str | None = Field(
        default=None, min_length=1, description="Select the deals of this owner."
    )
    stages: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Select deals in these stages (default: every open stage).",
    )
    closing_before: dt.date | None = Field(
        default=None, description="Select deals whose close date is before this date."
    )
    min_amount: float | None = Field(
        default=None, ge=0, description="Select deals of at least this amount."
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DEALS,
        description=f"At most this many selected deals, largest first (default {DEFAULT_LIMIT}).",
    )
    as_of: str | None = Field(
        default=None,
        description="Review as of this ISO date or datetime (default: the warehouse's recorded "
        "epoch if it has one, else now).",
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

    @field_validator("as_of")
    @classmethod
    def _iso_time(cls, value: str | None) -> str | None:
        from nodes.clock import parse_time

        return None if value is None else parse_time(value).isoformat()

    @model_validator(mode="after")
    def _named_or_selected(self) -> DealReviewInput:
        chosen = [f for f in SELECTION_FIELDS if getattr(self, f) is not None]
        if self.deal_ids and chosen:
            raise ValueError(
                f"give deal_ids or a selection ({', '.join(chosen)}), not both"
            )
        return self

    def selection(self) -> dict[str, Any] | None:
        """The selection filters given (None when deals are named or nothing was given)."""
        picked = {f: getattr(self, f) for f in SELECTION_FIELDS if getattr(self, f) is not None}
        if not picked:
            return None
        if "closing_before" in picked:
            picked["closing_before"] = picked["closing_before"].isoformat()
        return picked


def to_state(model: DealReviewInput) -> dict[str, Any]:
    """The initial state: the deals (or the selection that picks them), the as-of input,
    and the clock when the run was asked for (the default as-of of a real warehouse)."""
    from nodes.clock import now_utc

    selection = model.selection()
    deal_ids = model.deal_ids or ([] if selection else [DEFAULT_DEAL_ID])
    return {
        "deal_ids": deal_ids,
        "selection": selection,
        "as_of": model.as_of,
        "requested_at": now_utc().isoformat(),
        "require_approval": model.require_approval,
    }


def build_graph(
    agents: Mapping[str, NodeFn] | None = None,
    *,
    timeouts: Mapping[str, float] | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled deal review graph (see `graphs.workflows.deal_review_graph`).

    `agents` replaces source agents by name (tests use it to make a branch slow or
    failing; users to plug in their own source); `timeouts` sets per-node timeouts in
    seconds (default: the engine's ``node_timeout_s``).
    """
    from graphs.workflows.deal_review_graph import build_graph as build

    return build(agents, timeouts=timeouts)


def shape_output(state: dict[str, Any]) -> dict[str, Any]:
    """Per deal: the facts of each source, the analyses and the report; the as-of time
    the review used; and the pipeline table (the deals ranked by risk, then amount)."""
    from nodes.pipeline import rank

    deals: dict[str, Any] = {}
    for deal_id in state.get("deal_ids", []):
        deals[deal_id] = {
            "facts": {src: (state.get(src) or {}).get(deal_id) for src in AGENT_NAMES},
            "analysis": {k: (state.get(k) or {}).get(deal_id) for k in ANALYSIS_NAMES},
            "report": (state.get("report") or {}).get(deal_id),
            "memories": (state.get("memories") or {}).get(deal_id, []),
        }
    return {
        "deal_ids": state.get("deal_ids", []),
        "as_of": state.get("review_as_of"),
        "selection": state.get("selection"),
        "deals": deals,
        "pipeline": rank(state),
        # While the memory index loads or is built: why the deals recall nothing yet.
        **({"memory_index": state["memory_index"]} if state.get("memory_index") else {}),
        "timings": state.get("timings", {}),
    }


SPEC = GraphSpec(
    name="deal_review",
    description="Review deals across HubSpot, Gong, Slack and Linear: facts, analyses and a "
    "health score with its reasons.",
    build=build_graph,
    input_model=DealReviewInput,
    to_state=to_state,
    shape_output=shape_output,
    # What the nodes computed, the report with its approvals, and the approval gate: a
    # command may not write them (only the deal ids are the caller's to change), nor jump
    # past the approval step; an approval is answered by a checked decision whose
    # reviewer is the answering caller.
    server_owned=SERVER_OWNED,
    resume_validators={approval.KIND: approval.approval_answer},
)


def __getattr__(name: str) -> Any:
    # The node functions (AGENTS, ANALYSES) and AGENT_RETRY live with the graph.
    if name in ("AGENTS", "ANALYSES", "AGENT_RETRY"):
        from graphs.workflows import deal_review_graph

        return getattr(deal_review_graph, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
