"""Deal stages as the review reads them: progress, plain names, open or closed."""

from __future__ import annotations

STAGE_PROGRESS = {
    "appointmentscheduled": 10,
    "qualifiedtobuy": 25,
    "presentationscheduled": 40,
    "decisionmakerboughtin": 60,
    "contractsent": 80,
    "closedwon": 100,
    "closedlost": 0,
}
STAGE_LABELS = {
    "appointmentscheduled": "appointment scheduled",
    "qualifiedtobuy": "qualified to buy",
    "presentationscheduled": "presentation scheduled",
    "decisionmakerboughtin": "decision maker bought in",
    "contractsent": "contract sent",
    "closedwon": "closed won",
    "closedlost": "closed lost",
}
CLOSED_WON = frozenset({"closedwon", "closed won", "won"})
CLOSED_LOST = frozenset({"closedlost", "closed lost", "lost"})
CLOSED = CLOSED_WON | CLOSED_LOST
DEFAULT_PROGRESS = 30  # a stage this table does not know


def stage_label(stage: str | None) -> str:
    """A stage id in words ("contractsent" -> "contract sent"); unknown ids as they are."""
    if not stage:
        return "unknown stage"
    return STAGE_LABELS.get(stage.lower(), stage)


def outcome(stage: str | None) -> str | None:
    """``"won"`` or ``"lost"`` for a closed deal's stage, None while it is open."""
    s = (stage or "").lower()
    return "won" if s in CLOSED_WON else "lost" if s in CLOSED_LOST else None
