"""Human approval of at-risk deals: pause the run with LangGraph's `interrupt()`.

The synthesis node calls `request_approval(report)` when the input asked for it. If a
deal is at risk, the run pauses (its state is checkpointed on the thread) and the
reviewer sees which deals and why; resuming with ``Command(resume=decision)`` — from
Python (`Engine.resume`), the CLI or the SDK API — returns the decision here, and it is
recorded on each at-risk deal's report. A decision is ``"approve"`` / ``"reject"`` or
``{"decision": "approve", "note": "...", "reviewer": "..."}``.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

DECISIONS = ("approve", "reject")


def request_approval(report: dict[str, Any]) -> None:
    """Pause for a reviewer when a deal in `report` is at risk; record the decision.

    Mutates the at-risk entries of `report`, adding ``approval``. A malformed decision
    is recorded as ``"invalid"`` with the value received, never silently approved.
    """
    at_risk = {d: r for d, r in report.items() if r.get("status") == "at_risk"}
    if not at_risk:
        return
    answer = interrupt(
        {
            "kind": "deal_approval",
            "question": "Approve the review of these at-risk deals?",
            "options": list(DECISIONS),
            "deals": {
                d: {
                    "deal": r["deal"],
                    "health_score": r["health_score"],
                    "reasons": r["reasons"][:5],
                }
                for d, r in at_risk.items()
            },
        }
    )
    approval = normalise_decision(answer)
    for entry in at_risk.values():
        entry["approval"] = approval


def normalise_decision(answer: Any) -> dict[str, Any]:
    """``{"decision": "approve"|"reject"|"invalid", "note": ..., "reviewer": ...}``."""
    if isinstance(answer, str):
        answer = {"decision": answer}
    if not isinstance(answer, dict):
        return {"decision": "invalid", "received": repr(answer)[:200]}
    decision = str(answer.get("decision", "")).strip().lower()
    out: dict[str, Any] = {
        "decision": decision if decision in DECISIONS else "invalid",
        "note": answer.get("note"),
        "reviewer": answer.get("reviewer"),
    }
    if out["decision"] == "invalid":
        out["received"] = repr(answer)[:200]
    return out
