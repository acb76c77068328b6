"""Human approval of at-risk deals: pause the run with LangGraph's `interrupt()`.

The synthesis node calls `request_approval(report)` when the input asked for it. If a
deal is at risk, the run pauses (its state is checkpointed on the thread) and the
reviewer sees which deals and why; resuming with ``Command(resume=decision)`` — from
Python (`Engine.resume`), the CLI or the SDK API — returns the decision here, and it is
recorded on each at-risk deal's report. A decision is ``"approve"`` / ``"reject"`` or
``{"decision": "approve", "note": "...", "reviewer": "..."}``.

A service answering the interrupt for a remote caller checks the answer first with
`approval_answer` (`KIND` names what the interrupt asks for), which also records who
answered from the caller's identity: the ``reviewer`` a request body claims is ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DECISIONS = ("approve", "reject")
KIND = "deal_approval"
"""The ``kind`` of the interrupt `request_approval` raises."""
MAX_NOTE_CHARS = 2000


class ApprovalAnswer(BaseModel):
    """An answer to a deal approval: the decision and a note."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    note: str | None = Field(None, max_length=MAX_NOTE_CHARS)
    reviewer: str | None = Field(None, description="Ignored: the answering caller is recorded.")

    @field_validator("decision", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def approval_answer(value: Any, reviewer: str | None) -> dict[str, Any]:
    """`value` checked as an answer to `request_approval`'s interrupt, with `reviewer` as
    who decided; ValueError naming each problem (never echoing the value)."""
    if isinstance(value, str):
        value = {"decision": value}
    try:
        answer = ApprovalAnswer.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ValueError(f"not an approval answer ({problems})") from None
    return {"decision": answer.decision, "note": answer.note, "reviewer": reviewer}


def request_approval(report: dict[str, Any]) -> None:
    """Pause for a reviewer when a deal in `report` is at risk; record the decision.

    Mutates the at-risk entries of `report`, adding ``approval``. A malformed decision
    is recorded as ``"invalid"`` with the value received, never silently approved.
    """
    from langgraph.types import interrupt  # here: the answer checks above import no LangGraph

    at_risk = {d: r for d, r in report.items() if r.get("status") == "at_risk"}
    if not at_risk:
        return
    answer = interrupt(
        {
            "kind": KIND,
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
