"""Synthesis: one health score per deal, its status, the reasons, and a summary.

The score is a weighted mean of the analyses that have a score (sales 50%,
communication 25%, project 25%), so a failed source lowers confidence instead of
failing the review. With ``require_approval`` the node pauses (LangGraph `interrupt`)
before its report is written when a deal is at risk (`nodes.approval`). The summary
is deterministic text unless a langchain-core chat model is configured
(`Resources.llm`), in which case the model writes it from the same facts; if the
model fails, the deterministic summary is kept and the error recorded.
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.runtime import Runtime

from nodes.approval import request_approval
from nodes.context import Resources
from nodes.state import DealReviewState

WEIGHTS = {"sales_analysis": 0.5, "communication_analysis": 0.25, "project_analysis": 0.25}
HEALTHY, WATCH = 70, 45


def status_of(score: int | None) -> str:
    """'healthy', 'watch', 'at_risk', or 'unknown' when no analysis had data."""
    if score is None:
        return "unknown"
    return "healthy" if score >= HEALTHY else "watch" if score >= WATCH else "at_risk"


async def synthesis(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Combine the analyses into a report per deal."""
    report: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    failed = sorted({e["node"] for e in state.get("errors") or []})
    for deal_id in state["deal_ids"]:
        weighted = total = 0.0
        reasons: list[str] = []
        for key, weight in WEIGHTS.items():
            analysis: dict[str, Any] = (cast(dict[str, Any], state).get(key) or {}).get(
                deal_id
            ) or {}
            reasons.extend(analysis.get("reasons", []))
            if analysis.get("score") is not None:
                weighted += weight * analysis["score"]
                total += weight
        score = round(weighted / total) if total else None
        deal = (state.get("hubspot") or {}).get(deal_id) or {}
        status = status_of(score)
        report[deal_id] = {
            "deal": deal.get("name", deal_id),
            "health_score": score,
            "status": status,
            "reasons": list(dict.fromkeys(reasons)),
            "confidence": round(total, 2),
            "failed_sources": failed,
            "summary": _summary(deal_id, deal, score, status, reasons),
        }
    if state.get("require_approval"):
        request_approval(report)
    llm = runtime.context.llm
    if llm is not None:
        errors = await _llm_summaries(llm, report)
    return {"report": report, **({"errors": errors} if errors else {})}


def _summary(
    deal_id: str, deal: dict[str, Any], score: int | None, status: str, reasons: list[str]
) -> str:
    name = deal.get("name", deal_id)
    if score is None:
        return f"{name}: no source returned data, health unknown."
    amount = f" (${deal['amount']:,.0f}, {deal['stage']})" if deal.get("found") else ""
    top = "; ".join(reasons[:3]) if reasons else "no concerns found"
    return f"{name}{amount} is {status.replace('_', ' ')} at {score}/100: {top}."


async def _llm_summaries(llm: Any, report: dict[str, Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for deal_id, entry in report.items():
        prompt = (
            "Write a two-sentence deal health summary for a sales manager.\n"
            f"Deal: {entry['deal']}\nHealth score: {entry['health_score']} ({entry['status']})\n"
            "Reasons:\n" + "\n".join(f"- {r}" for r in entry["reasons"])
        )
        try:
            message = await llm.ainvoke(prompt)
            entry["summary"] = str(message.content)
            entry["summary_by"] = "llm"
        except Exception as exc:  # the deterministic summary stays
            errors.append(
                {
                    "node": "synthesis",
                    "error": type(exc).__name__,
                    "message": f"LLM summary failed for {deal_id}: {exc}",
                    "timed_out": False,
                }
            )
    return errors
