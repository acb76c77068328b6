"""Analysis nodes: sales (HubSpot + Gong), communication (Slack) and project (Linear).

Each turns the facts of its sources into a score from 0 (bad) to 100 (good) per deal
and the reasons behind it. A source that failed is named in the reasons and the score
is left out (None), so synthesis can weigh what it has. Deterministic by design.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.context import Resources
from nodes.stages import DEFAULT_PROGRESS, STAGE_PROGRESS, stage_label
from nodes.state import DealReviewState
from nodes.wording import count

SLACK_RISK_WEIGHT = 8  # points off the communication score per risk reported in Slack


def _clamp(value: float) -> int:
    return int(max(0.0, min(100.0, round(value))))


def _risk_list(risks: list[dict[str, Any]]) -> str:
    """``"budget (2 mentions), legal"``: what was heard, and how often when more than once."""
    return ", ".join(
        r["risk"] + (f" ({r['mentions']} mentions)" if r["mentions"] > 1 else "") for r in risks
    )


def _failed(state: DealReviewState, *nodes: str) -> list[str]:
    errors = state.get("errors") or []
    return [e["node"] for e in errors if e["node"] in nodes]


async def sales_analysis(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Stage progress, activity recency, call engagement, talk ratio and call risks."""
    hubspot, gong = state.get("hubspot") or {}, state.get("gong") or {}
    missing = _failed(state, "hubspot", "gong")
    out: dict[str, Any] = {}
    for deal_id in state["deal_ids"]:
        deal, calls = hubspot.get(deal_id), gong.get(deal_id)
        reasons: list[str] = [f"{src} data unavailable" for src in missing]
        parts: list[float] = []
        if deal and deal.get("found"):
            progress = STAGE_PROGRESS.get(str(deal["stage"]).lower(), DEFAULT_PROGRESS)
            parts.append(progress)
            reasons.append(f"stage: {stage_label(deal['stage'])} ({progress}% of the way)")
            idle = deal.get("days_since_activity")
            if idle is not None:
                parts.append(100 - idle * 1.5)
                if idle > 30:
                    reasons.append(f"no activity for {idle} days")
        elif deal is not None:
            reasons.append("deal not found in HubSpot")
        if calls is not None:
            parts.append(min(100, calls["calls_last_30_days"] * 25 + calls["call_count"] * 5))
            ratio = calls.get("rep_talk_ratio")
            if ratio is not None and ratio > 0.65:
                parts.append(40)
                reasons.append(
                    f"our reps did {ratio:.0%} of the talking on calls (customers said little)"
                )
            risks = calls.get("open_risks") or []
            if risks:
                mentions = sum(r["mentions"] for r in risks)
                parts.append(100 - mentions * 15)
                reasons.append("customers raised on calls: " + _risk_list(risks))
        out[deal_id] = {
            "score": _clamp(sum(parts) / len(parts)) if parts else None,
            "reasons": reasons,
        }
    return {"sales_analysis": out}


async def communication_analysis(
    state: DealReviewState, runtime: Runtime[Resources]
) -> dict[str, Any]:
    """Slack volume and responsiveness: unanswered questions weigh heavily."""
    slack = state.get("slack") or {}
    missing = _failed(state, "slack")
    out: dict[str, Any] = {}
    for deal_id in state["deal_ids"]:
        facts = slack.get(deal_id)
        if facts is None:
            out[deal_id] = {"score": None, "reasons": [f"{s} data unavailable" for s in missing]}
            continue
        reasons: list[str] = []
        questions, unanswered = facts["questions"], facts.get("unanswered_count", 0)
        responsiveness = 100.0 if not questions else 100 * (1 - unanswered / questions)
        volume = min(100, facts.get("messages_last_14_days", 0) * 20 + 20)
        if unanswered:
            reasons.append(f"{unanswered} of {count(questions, 'question')} unanswered in Slack")
        if facts.get("messages_last_14_days", 0) == 0:
            reasons.append("no Slack messages in the last 14 days")
        risks = facts.get("open_risks") or []
        if risks:
            reasons.append("the team reported in Slack: " + _risk_list(risks))
        score = 0.7 * responsiveness + 0.3 * volume - SLACK_RISK_WEIGHT * len(risks)
        out[deal_id] = {"score": _clamp(score), "reasons": reasons}
    return {"communication_analysis": out}


async def project_analysis(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Linear delivery health: blocked and urgent open issues."""
    linear = state.get("linear") or {}
    missing = _failed(state, "linear")
    out: dict[str, Any] = {}
    for deal_id in state["deal_ids"]:
        facts = linear.get(deal_id)
        if facts is None:
            out[deal_id] = {"score": None, "reasons": [f"{s} data unavailable" for s in missing]}
            continue
        blocked = len(facts["blocked_issues"])
        reasons = [f"{count(blocked, 'blocked Linear issue')}"] if blocked else []
        if facts.get("urgent_open"):
            urgent = count(facts["urgent_open"], "urgent or high-priority issue")
            reasons.append(f"{urgent} open in Linear")
        score = 100 - blocked * 25 - facts.get("urgent_open", 0) * 5
        out[deal_id] = {"score": _clamp(score), "reasons": reasons}
    return {"project_analysis": out}
