"""A user-defined workflow: a forecast check built from the engine's nodes plus one new node.

    START ─┬─ hubspot ─┐
           └─ gong ────┴─ sales_analysis ─ forecast_call ─ END

`hubspot_agent`, `gong_agent` and `sales_analysis` come from `nodes/`; `forecast_call` is
new: it puts each deal in a forecast category (commit, best case, pipeline, omit) from its
sales score, stage and close date. The graph is registered next to the shipped ones and
run on an Engine, which gives it the same pooled warehouse, cache and tracing.

Run it (the demo warehouse is seeded on first use; without ids it classifies D-00001 to
D-00004):

    uv run python examples/custom_workflow.py D-00001 D-00002 D-00003
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from graphs import Engine, GraphRegistry, GraphSpec, default_registry
from nodes.analysis import sales_analysis
from nodes.clock import review_time
from nodes.context import Resources
from nodes.isolation import isolated
from nodes.sources import gong_agent, hubspot_agent
from nodes.state import DealReviewState
from stores.demo.data import DEFAULT_DEAL_ID
from stores.settings import Settings

COMMIT_SCORE = 70
BEST_CASE_SCORE = 45


class ForecastInput(BaseModel):
    """Input of `forecast_check`: the deals to classify."""

    model_config = ConfigDict(extra="forbid")

    deal_ids: list[str] = Field(
        default_factory=lambda: [DEFAULT_DEAL_ID],
        min_length=1,
        max_length=1000,
        description="HubSpot deal ids, e.g. D-00001.",
    )


def classify(deal: dict[str, Any] | None, score: int | None, now: dt.datetime) -> dict[str, Any]:
    """The forecast category of one deal, with the reason for it."""
    if not deal or not deal.get("found"):
        return {"category": "omit", "reason": "deal not found in HubSpot", "amount": 0.0}
    amount = float(deal.get("amount") or 0.0)
    if deal["stage"] in ("closedwon", "closedlost"):
        return {"category": "closed", "reason": f"already {deal['stage']}", "amount": amount}
    close = deal.get("close_date")
    days_left = (dt.date.fromisoformat(close[:10]) - now.date()).days if close else None
    if score is None:
        return {
            "category": "pipeline",
            "reason": "no sales score (a source failed)",
            "amount": amount,
        }
    if score >= COMMIT_SCORE and days_left is not None and 0 <= days_left <= 90:
        category, reason = "commit", f"score {score} and closing in {days_left} days"
    elif score >= BEST_CASE_SCORE:
        category, reason = "best_case", f"score {score}"
    else:
        category, reason = "pipeline", f"score {score} is below {BEST_CASE_SCORE}"
    return {"category": category, "reason": reason, "amount": amount}


async def forecast_call(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """The new node: a forecast category per deal from the HubSpot facts and sales score."""
    hubspot, sales = state.get("hubspot") or {}, state.get("sales_analysis") or {}
    now = (await review_time(state, runtime)).at  # as_of, the warehouse's epoch, or now
    report = {
        deal_id: classify(hubspot.get(deal_id), (sales.get(deal_id) or {}).get("score"), now)
        for deal_id in state["deal_ids"]
    }
    return {"report": report}


def build_forecast_graph() -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled forecast check graph (every node isolated, as in deal_review)."""
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(DealReviewState, context_schema=Resources)
    # `isolated` returns a plain async callable; LangGraph's overloads want its own types.
    nodes: dict[str, Any] = {
        "hubspot": isolated("hubspot", hubspot_agent),
        "gong": isolated("gong", gong_agent),
        "sales_analysis": isolated("sales_analysis", sales_analysis, kind="analysis"),
        "forecast_call": isolated("forecast_call", forecast_call, kind="analysis"),
    }
    for name, node in nodes.items():
        graph.add_node(name, node)
    graph.add_edge(START, "hubspot")
    graph.add_edge(START, "gong")
    graph.add_edge(["hubspot", "gong"], "sales_analysis")
    graph.add_edge("sales_analysis", "forecast_call")
    graph.add_edge("forecast_call", END)
    return graph


def shape_forecast(state: dict[str, Any]) -> dict[str, Any]:
    """Per deal its category; and the total amount per category."""
    deals = state.get("report") or {}
    totals: dict[str, float] = {}
    for entry in deals.values():
        totals[entry["category"]] = totals.get(entry["category"], 0.0) + entry["amount"]
    return {"deal_ids": state.get("deal_ids", []), "deals": deals, "totals": totals}


FORECAST_CHECK = GraphSpec(
    name="forecast_check",
    description="Forecast category per deal (commit, best case, pipeline, omit) from "
    "HubSpot and Gong.",
    build=build_forecast_graph,
    input_model=ForecastInput,
    shape_output=shape_forecast,
)


def registry() -> GraphRegistry:
    """The shipped graphs plus `forecast_check`."""
    reg = default_registry()
    reg.register(FORECAST_CHECK)
    return reg


async def main(deal_ids: list[str], settings: Settings | None = None) -> dict[str, Any]:
    """Run `forecast_check` on `deal_ids` and print one line per deal; returns the result."""
    async with Engine(settings or Settings(), registry=registry(), auto_seed=True) as engine:
        result = await engine.invoke("forecast_check", {"deal_ids": deal_ids})
    for deal_id, entry in result["deals"].items():
        print(f"{deal_id}: {entry['category']:<9} {entry['amount']:>12,.0f}  ({entry['reason']})")
    print(
        "totals:",
        {k: round(v) for k, v in result["totals"].items()},
        f"run {result['run_id']} trace {result['trace_id']}",
    )
    return result


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description="Forecast category per deal (forecast_check).")
    cli.add_argument("deal_ids", nargs="*", metavar="DEAL_ID", help="default: D-00001..D-00004")
    ids = cli.parse_args().deal_ids or ["D-00001", "D-00002", "D-00003", "D-00004"]
    asyncio.run(main(ids))
