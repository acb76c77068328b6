"""The risk detector's evaluation set and its scoring: precision and recall per risk.

The set is ``tests/nodes/risk_eval.tsv`` (labels, source, kind, text; written by hand,
apart from the detector and the demo generator). `score(predict, lines)` runs a
predictor (text -> set of risk keys) over the lines and counts, per risk, true
positives, false positives and false negatives at the line level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

EVAL_SET = Path(__file__).resolve().parent / "risk_eval.tsv"


@dataclass(frozen=True)
class LabelledLine:
    """One line of the evaluation set."""

    labels: frozenset[str]
    source: str
    kind: str
    text: str
    index: int


@dataclass
class RiskScore:
    """Line-level counts for one risk, and the precision, recall and F1 they give."""

    risk: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when nothing was there to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_eval_set(path: Path = EVAL_SET) -> list[LabelledLine]:
    """The labelled lines (comment lines start with ``#``)."""
    lines: list[LabelledLine] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        labels, source, kind, text = raw.split("\t", 3)
        keys = frozenset() if labels == "-" else frozenset(labels.split(","))
        lines.append(LabelledLine(keys, source, kind, text, len(lines)))
    return lines


def held_out(lines: Iterable[LabelledLine]) -> list[LabelledLine]:
    """Every third line: the part whose misses were never looked at while writing rules."""
    return [ln for ln in lines if ln.index % 3 == 2]


def development(lines: Iterable[LabelledLine]) -> list[LabelledLine]:
    """The other two thirds (misses here were read to fix the detector's rules)."""
    return [ln for ln in lines if ln.index % 3 != 2]


def score(
    predict: Callable[[str], set[str]], lines: Iterable[LabelledLine], risks: Iterable[str]
) -> dict[str, RiskScore]:
    """Per risk: line-level TP/FP/FN of `predict` against the labels."""
    scores = {r: RiskScore(r) for r in risks}
    for line in lines:
        predicted = predict(line.text)
        for risk, s in scores.items():
            gold, got = risk in line.labels, risk in predicted
            s.tp += gold and got
            s.fp += got and not gold
            s.fn += gold and not got
    return scores


def macro_f1(scores: dict[str, RiskScore]) -> float:
    """The mean F1 over risks."""
    return sum(s.f1 for s in scores.values()) / max(1, len(scores))
