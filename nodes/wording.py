"""Plain wording for reports: counts with the right noun, statuses in words."""

from __future__ import annotations

STATUS_WORDS = {
    "healthy": "healthy",
    "watch": "needs watching",
    "at_risk": "at risk",
    "unknown": "health unknown",
    "won": "won",
    "lost": "lost",
    "not_found": "not found",
}


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``"1 issue"``, ``"2 issues"`` (`plural` for irregular nouns)."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def status_words(status: str) -> str:
    """A report status as a reader would say it ("watch" -> "needs watching")."""
    return STATUS_WORDS.get(status, status.replace("_", " "))


def money(amount: float | None) -> str:
    """``$60,800``; empty when unknown."""
    return f"${amount:,.0f}" if amount is not None else ""
