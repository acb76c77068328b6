"""Risks heard across a deal's calls and messages, each with the evidence behind it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nodes.risk_detector import RiskDetector

MAX_EVIDENCE = 3  # lines kept per risk, newest first


@dataclass(frozen=True)
class Said:
    """One line someone said: where (a call or a channel), who, when."""

    text: str
    source: str  # "gong" | "slack"
    where: str  # the call's title or the channel's name
    ref: str  # call id or message id
    speaker: str | None
    at: Any  # datetime (or None)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def open_risks(lines: Iterable[Said], detector: RiskDetector) -> list[dict[str, Any]]:
    """Per risk heard: mentions (hedged ones counted apart) and up to three lines of
    evidence (source, call or channel, the line, the speaker, when), most mentioned first."""
    found: dict[str, list[tuple[Said, bool, tuple[str, ...]]]] = {}
    for line in lines:
        for d in detector.detect(line.text):
            found.setdefault(d.risk, []).append((line, d.hedged, d.cues))
    out: list[dict[str, Any]] = []
    for risk, hits in found.items():
        hits.sort(key=lambda h: (_iso(h[0].at) or "", h[0].ref), reverse=True)
        evidence = [
            {
                "source": said.source,
                "where": said.where,
                "ref": said.ref,
                "line": said.text,
                "speaker": said.speaker,
                "at": _iso(said.at),
                "hedged": hedged,
                "cues": list(cues),
            }
            for said, hedged, cues in hits[:MAX_EVIDENCE]
        ]
        first = evidence[0]
        out.append(
            {
                "risk": risk,
                "mentions": len(hits),
                "hedged_mentions": sum(1 for _, hedged, _ in hits if hedged),
                "example": f'{first["where"]}: "{first["line"]}"',
                "evidence": evidence,
            }
        )
    out.sort(key=lambda r: (-r["mentions"], r["risk"]))
    return out
