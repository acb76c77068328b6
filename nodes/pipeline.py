"""Review a pipeline: select deals with filters, and rank the reviewed deals.

`select_deals` (the deal review's ``select`` node) turns the input's filters into one
bound statement over ``hubspot_deals``: owner, stages (default: every open stage),
closing before a date, a minimum amount, a limit (largest deals first). `rank` orders
the reviewed deals by risk, then amount, for the pipeline table.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.clock import parse_time
from nodes.context import Resources
from nodes.selection import DEFAULT_LIMIT
from nodes.stages import CLOSED, stage_label
from nodes.state import DealReviewState

# How worrying each status is (lower is ranked first).
RISK_ORDER = {
    "at_risk": 0,
    "watch": 1,
    "unknown": 2,
    "healthy": 3,
    "lost": 4,
    "won": 5,
    "not_found": 6,
}


def selection_statement(selection: dict[str, Any]) -> tuple[str, list[Any]]:
    """The one SELECT (``?`` placeholders) and its parameters for `selection`.

    Identifiers are constants here; every value is bound. Without ``stages`` the closed
    stages are left out (a pipeline is what is still open).
    """
    where: list[str] = []
    params: list[Any] = []
    if selection.get("owner"):
        where.append("owner = ?")
        params.append(selection["owner"])
    stages = selection.get("stages")
    if stages:
        where.append(f"stage IN ({', '.join('?' for _ in stages)})")
        params.extend(stages)
    else:
        closed = sorted(CLOSED)
        where.append(f"stage NOT IN ({', '.join('?' for _ in closed)})")
        params.extend(closed)
    if selection.get("closing_before"):
        where.append("close_date < ?")
        params.append(parse_time(selection["closing_before"]).date())
    if selection.get("min_amount") is not None:
        where.append("amount >= ?")
        params.append(float(selection["min_amount"]))
    sql = (
        "SELECT deal_id FROM hubspot_deals"  # noqa: S608 - constant identifiers, bound values
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY amount DESC, deal_id LIMIT ?"
    )
    params.append(int(selection.get("limit") or DEFAULT_LIMIT))
    return sql, params


async def select_deals(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """The deal ids the input's selection picks (one statement), largest first."""
    selection = state.get("selection") or {}
    sql, params = selection_statement(selection)
    rows = await runtime.context.warehouse.query(sql, params)
    return {"deal_ids": [str(r["deal_id"]) for r in rows]}


def rank(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per reviewed deal, most at risk first, then the largest amount first."""
    report = state.get("report") or {}
    hubspot = state.get("hubspot") or {}
    gong = state.get("gong") or {}
    slack = state.get("slack") or {}
    rows: list[dict[str, Any]] = []
    for deal_id in state.get("deal_ids", []):
        entry = report.get(deal_id) or {}
        deal = hubspot.get(deal_id) or {}
        risks = [
            r["risk"]
            for src in (gong, slack)
            for r in (src.get(deal_id) or {}).get("open_risks", [])
        ]
        rows.append(
            {
                "deal_id": deal_id,
                "deal": entry.get("deal", deal.get("name", deal_id)),
                "owner": deal.get("owner"),
                "stage": stage_label(deal.get("stage")) if deal.get("found") else None,
                "amount": deal.get("amount"),
                "close_date": deal.get("close_date"),
                "status": entry.get("status", "unknown"),
                "health_score": entry.get("health_score"),
                "risks": list(dict.fromkeys(risks)),
                "days_since_activity": deal.get("days_since_activity"),
            }
        )
    rows.sort(
        key=lambda r: (
            RISK_ORDER.get(r["status"], 2),
            -(r["amount"] or 0.0),
            r["health_score"] if r["health_score"] is not None else 101,
            r["deal_id"],
        )
    )
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    return rows
