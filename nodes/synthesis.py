"""Synthesis: one report per deal: its status, health score, the reasons, and a summary.

An open deal's score is a weighted mean of the analyses that have one (sales 50%,
communication 25%, project 25%), so a failed source narrows the evidence instead of
failing the review (``confidence`` is the share of that weight that had data; the
report says in words what was missing). A deal HubSpot does not have is reported as
``not_found`` with no score; a closed deal as ``won`` or ``lost``, not scored as open
pipeline. Each report says the as-of time it used. With ``require_approval`` the node
pauses (LangGraph `interrupt`) before its report is written when a deal is at risk
(`nodes.approval`). The summary is deterministic text unless a chat model is configured
(`Resources.llm`): then the model writes it from the same facts, each call through the
model's guard (``llm:<model>``) and at most `LLM_CONCURRENCY` at once; if a call fails,
that deal keeps the deterministic summary and the error is recorded.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from langgraph.runtime import Runtime

from nodes.approval import request_approval
from nodes.clock import review_time
from nodes.context import Resources
from nodes.stages import outcome, stage_label
from nodes.state import DealReviewState
from nodes.wording import money, status_words

WEIGHTS = {"sales_analysis": 0.5, "communication_analysis": 0.25, "project_analysis": 0.25}
HEALTHY, WATCH = 70, 45
LLM_CONCURRENCY = 4


def status_of(score: int | None) -> str:
    """'healthy', 'watch', 'at_risk', or 'unknown' when no analysis had data."""
    if score is None:
        return "unknown"
    return "healthy" if score >= HEALTHY else "watch" if score >= WATCH else "at_risk"


async def synthesis(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Combine the analyses into a report per deal."""
    as_of = await review_time(state, runtime)
    failed = sorted({e["node"] for e in state.get("errors") or []})
    report: dict[str, Any] = {}
    for deal_id in state["deal_ids"]:
        deal = (state.get("hubspot") or {}).get(deal_id) or {}
        entry = _entry(state, deal_id, deal, failed)
        entry["as_of"] = as_of.at.isoformat(timespec="seconds")
        report[deal_id] = entry
    if state.get("require_approval"):
        request_approval(report)
    errors: list[dict[str, Any]] = []
    llm = runtime.context.llm
    if llm is not None:
        errors = await _llm_summaries(llm, report, runtime.context.guards)
    update: dict[str, Any] = {"report": report, "review_as_of": as_of.as_dict()}
    return {**update, **({"errors": errors} if errors else {})}


def _entry(
    state: DealReviewState, deal_id: str, deal: dict[str, Any], failed: list[str]
) -> dict[str, Any]:
    name = deal.get("name", deal_id)
    base = {"deal": name, "failed_sources": failed}
    if deal.get("found") is False:
        return {
            **base,
            "health_score": None,
            "status": "not_found",
            "reasons": ["deal not found in HubSpot"],
            "confidence": 0.0,
            "confidence_note": "no deal with this id in HubSpot",
            "summary": f"{deal_id} was not found in HubSpot: nothing to review.",
        }
    weighted = total = 0.0
    reasons: list[str] = []
    for key, weight in WEIGHTS.items():
        analysis: dict[str, Any] = (cast(dict[str, Any], state).get(key) or {}).get(deal_id) or {}
        reasons.extend(analysis.get("reasons", []))
        if analysis.get("score") is not None:
            weighted += weight * analysis["score"]
            total += weight
    reasons = list(dict.fromkeys(reasons))
    closed = outcome(deal.get("stage")) if deal.get("found") else None
    if closed is not None:
        heard = [r for r in reasons if r.startswith(("customers raised", "the team reported"))]
        when = f" (close date {deal['close_date']})" if deal.get("close_date") else ""
        return {
            **base,
            "health_score": None,
            "status": closed,
            "reasons": [f"closed {closed}{when}", *heard],
            "confidence": round(total, 2),
            "confidence_note": "closed deals are not scored as open pipeline",
            "summary": f"{name} ({money(deal.get('amount'))}) was {closed}{when}; "
            "not scored as open pipeline.",
        }
    score = round(weighted / total) if total else None
    status = status_of(score)
    return {
        **base,
        "health_score": score,
        "status": status,
        "reasons": reasons,
        "confidence": round(total, 2),
        "confidence_note": _coverage(total, failed),
        "summary": _summary(deal_id, deal, score, status, reasons),
    }


def _coverage(total: float, failed: list[str]) -> str:
    if total >= 0.999:
        return "every source answered: the score uses all the evidence"
    if total == 0:
        return "no source answered: no score"
    missing = f" ({', '.join(failed)} unavailable)" if failed else ""
    return f"the score rests on {total:.0%} of the usual evidence{missing}"


def _summary(
    deal_id: str, deal: dict[str, Any], score: int | None, status: str, reasons: list[str]
) -> str:
    name = deal.get("name", deal_id)
    if score is None:
        return f"{name}: no source returned data, health unknown."
    about = f" ({money(deal['amount'])}, {stage_label(deal['stage'])})" if deal.get("found") else ""
    top = "; ".join(reasons[:3]) if reasons else "no concerns found"
    return f"{name}{about}: {status_words(status)}, health {score}/100. Why: {top}."


async def _llm_summaries(llm: Any, report: dict[str, Any], guards: Any) -> list[dict[str, Any]]:
    """Model-written summaries of the scored deals, concurrently within a bound."""
    model = str(getattr(llm, "model_name", None) or getattr(llm, "model", None) or "chat")
    # A model that guards its own calls (Cortex) is not guarded twice.
    guard = (
        None
        if getattr(llm, "guard", None) is not None or guards is None
        else (guards.guard(f"llm:{model}"))
    )
    gate = asyncio.Semaphore(LLM_CONCURRENCY)

    async def one(deal_id: str, entry: dict[str, Any]) -> dict[str, Any] | None:
        prompt = (
            "Write a two-sentence deal health summary for a sales manager.\n"
            f"Deal: {entry['deal']}\nHealth score: {entry['health_score']} "
            f"({status_words(entry['status'])})\n"
            "Reasons:\n" + "\n".join(f"- {r}" for r in entry["reasons"])
        )
        async with gate:
            try:
                if guard is not None:
                    message = await guard.run(llm.ainvoke, prompt)
                else:
                    message = await llm.ainvoke(prompt)
            except Exception as exc:  # the deterministic summary stays
                return {
                    "node": "synthesis",
                    "error": type(exc).__name__,
                    "message": f"LLM summary failed for {deal_id}: {exc}",
                    "timed_out": False,
                }
        entry["summary"] = str(message.content)
        entry["summary_by"] = f"llm:{model}"
        return None

    scored = [(d, e) for d, e in report.items() if e.get("health_score") is not None]
    results = await asyncio.gather(*(one(d, e) for d, e in scored))
    return [r for r in results if r is not None]
