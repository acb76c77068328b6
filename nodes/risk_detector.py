"""Deal risks heard in what people say: lexical rules over stems, with negation scope.

`RiskDetector(taxonomy).detect(text)` returns the risks a line speaks of, each with the
words that gave it away and whether it was hedged. How (see ``risk_taxonomy.toml``):

1. The line is split into sentences (questions are skipped: asking is not reporting) and
   each sentence into clauses, at commas, semicolons and "but"/"however"/"although".
2. In each clause every taxonomy entry is found on word stems (an entry of several words
   may have up to two other words between them).
3. A negator ("no", "not", "n't", "never", "without", ...) negates the cues that start
   within three words after it: a negated problem resolves, a negated resolution is a
   problem; with ``absence_is_risk``, a negated topic with no cue in that scope is one.
4. Each risk whose topic (or signal) is in the clause gets the clause's score: its own
   cues count for it; a shared cue counts for the risk whose topic is nearest to it.
   A clause with cues but no topic continues the topics of the clause before it. Within
   a sentence the last clause that scored a risk decides it; a risk whose final score is
   positive is a finding.

It needs no model and no network; results are memoised per text (bounded).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nodes.risk_taxonomy import Entry, Taxonomy, load_taxonomy, words

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(
    r"[,;:()\u2013\u2014]|\s-\s|\b(?:but|however|although|though|whereas|except)\b",
    re.IGNORECASE,
)
NEGATION_SCOPE = 3  # words after a negator that it negates
MAX_GAP = 2  # other words allowed between the words of one entry


@dataclass(frozen=True)
class Detection:
    """A risk heard in a line: its key, the cue words, and whether it was hedged."""

    risk: str
    cues: tuple[str, ...]
    hedged: bool


@dataclass(frozen=True)
class _Hit:
    entry: Entry
    start: int
    end: int  # index after the last word
    negated: bool = False


class RiskDetector:
    """Finds the taxonomy's risks in lines of text (see the module doc for the rules)."""

    def __init__(self, taxonomy: Taxonomy, memo_size: int = 50_000) -> None:
        self.taxonomy = taxonomy
        self._lexicon = taxonomy.lexicon
        self._absence = {k for k, r in taxonomy.risks.items() if r.absence_is_risk}
        self._own_cues_only = {k for k, r in taxonomy.risks.items() if not r.shared_cues}
        self._memo: OrderedDict[str, tuple[Detection, ...]] = OrderedDict()
        self._memo_size = memo_size

    def detect(self, text: str) -> tuple[Detection, ...]:
        """The risks `text` speaks of (empty when none, or when they are negated)."""
        found = self._memo.get(text)
        if found is not None:
            self._memo.move_to_end(text)
            return found
        found = tuple(self._detect(text))
        self._memo[text] = found
        if len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)
        return found

    def detect_many(self, texts: Iterable[str]) -> list[tuple[Detection, ...]]:
        """`detect` for each text, in order."""
        return [self.detect(t) for t in texts]

    # -- the rules --------------------------------------------------------------------
    def _detect(self, text: str) -> list[Detection]:
        scores: dict[str, tuple[int, tuple[str, ...], bool]] = {}
        for sentence in _SENTENCE.split(text.strip()):
            if not sentence or sentence.rstrip().endswith("?"):
                continue
            for risk, (score, cues, hedged) in self._sentence(sentence).items():
                best = scores.get(risk)
                if best is None or score > best[0]:
                    scores[risk] = (score, cues, hedged)
        return [
            Detection(risk, cues, hedged)
            for risk, (score, cues, hedged) in scores.items()
            if score > 0
        ]

    def _sentence(self, sentence: str) -> dict[str, tuple[int, tuple[str, ...], bool]]:
        decided: dict[str, tuple[int, tuple[str, ...], bool]] = {}
        previous: set[str] = set()
        hedged_sentence = False
        for clause in _CLAUSE.split(sentence):
            hits = self._negate(self._hits(clause))
            if not hits:
                continue
            hedged_sentence = hedged_sentence or any(h.entry.kind == "hedge" for h in hits)
            topics: dict[str, list[int]] = {}
            for h in hits:
                if h.entry.kind in ("topic", "signal") and h.entry.risk is not None:
                    topics.setdefault(h.entry.risk, []).append(h.start)
            scored = self._score(hits, topics, previous)
            if topics:
                previous = set(topics)
            for risk, (score, cues) in scored.items():
                if score != 0:
                    decided[risk] = (score, cues, hedged_sentence)
        return decided

    def _hits(self, clause: str) -> list[_Hit]:
        """Entries found in `clause`. Where entries of one span differ only by stemming
        ("security" vs "secured", "budget" vs "budgeted"), those spelled as written win."""
        surface = words(clause)
        stems = [self._lexicon.stem(w) for w in surface]
        hits: list[_Hit] = []
        for i, stem in enumerate(stems):
            found: list[tuple[_Hit, bool]] = []
            for entry in self._lexicon.by_first.get(stem, ()):
                end = _match(entry.stems, stems, i)
                if end is not None:
                    exact = tuple(surface[i:end]) == entry.words
                    found.append((_Hit(entry, i, end), exact))
            exact_kinds = {h.entry.kind for h, exact in found if exact}
            hits.extend(
                h for h, exact in found if exact or not exact_kinds - {h.entry.kind, "hedge"}
            )
        return _distinct(hits)

    @staticmethod
    def _negate(hits: list[_Hit]) -> list[_Hit]:
        negators = [h for h in hits if h.entry.kind == "negator"]
        if not negators:
            return hits
        out: list[_Hit] = []
        for h in hits:
            negated = h.entry.kind != "negator" and any(
                n.end <= h.start < n.end + NEGATION_SCOPE for n in negators
            )
            out.append(_Hit(h.entry, h.start, h.end, negated) if negated else h)
        return out

    def _score(
        self, hits: list[_Hit], topics: dict[str, list[int]], previous: set[str]
    ) -> dict[str, tuple[int, tuple[str, ...]]]:
        subjects = set(topics) or set(previous)
        if not subjects:
            return {}
        # a risk's own cues also continue it from the clause before ("we had the money
        # earmarked, but it got reallocated"), unless this clause has its own topics
        reach = subjects if topics else subjects | previous
        scores = {r: 0 for r in reach}
        cues: dict[str, list[str]] = {r: [] for r in reach}
        cue_hits = [h for h in hits if h.entry.kind in ("problem", "resolution", "signal")]
        for h in cue_hits:
            # a risk's own resolution ("dropped" the other vendor) outweighs one cue
            sign = 1 if h.entry.kind in ("problem", "signal") else -2 if h.entry.risk else -1
            if h.negated:
                sign = -sign if sign > 0 else 1
            owners = self._owners(h, subjects, reach, topics, self._own_cues_only)
            for risk in owners:
                scores[risk] += sign
                if sign > 0:
                    cues[risk].append(h.entry.text)
        for h in hits:  # "no budget", "without funding": absence is the problem
            if h.entry.kind == "topic" and h.negated and h.entry.risk in self._absence:
                risk = h.entry.risk
                if risk in scores and not any(c.negated and c.start > h.start for c in cue_hits):
                    scores[risk] += 1
                    cues[risk].append(f"no {h.entry.text}")
        return {
            r: (s, tuple(dict.fromkeys(cues[r]))) for r, s in scores.items() if s or r in subjects
        }

    @staticmethod
    def _owners(
        hit: _Hit,
        subjects: set[str],
        reach: set[str],
        topics: dict[str, list[int]],
        own_cues_only: set[str],
    ) -> set[str]:
        own = hit.entry.risk
        if own is not None:
            return {own} if own in reach else set()
        if not topics:  # a continuation clause: the previous clause's topics
            return subjects - own_cues_only
        distance = {
            r: min(abs(p - hit.start) for p in ps)
            for r, ps in topics.items()
            if r not in own_cues_only
        }
        if not distance:
            return set()
        nearest = min(distance.values())
        return {r for r, d in distance.items() if d == nearest}


def load_detector(path: Path | str | None = None) -> RiskDetector:
    """A detector on the taxonomy at `path` (None: the shipped one). Reads a file: call it
    off the event loop (the engine does, in a thread, when it opens)."""
    return RiskDetector(load_taxonomy(path))


def _distinct(hits: list[_Hit]) -> list[_Hit]:
    """One hit per (kind, risk, span), and none inside a longer one of the same kind and risk
    ("lock" inside "locked down"), so a cue is counted once."""
    seen: dict[tuple[str, str | None, int, int], _Hit] = {}
    for h in hits:
        seen.setdefault((h.entry.kind, h.entry.risk, h.start, h.end), h)
    kept = list(seen.values())
    return [
        h
        for h in kept
        if not any(
            o is not h
            and o.entry.kind == h.entry.kind
            and o.entry.risk == h.entry.risk
            and o.start <= h.start
            and h.end <= o.end
            and (o.end - o.start) > (h.end - h.start)
            for o in kept
        )
    ]


def _match(stems: tuple[str, ...], tokens: list[str], start: int) -> int | None:
    """The index after `stems` matched in `tokens` from `start` (gaps <= MAX_GAP), or None."""
    pos = start + 1
    for stem in stems[1:]:
        limit = min(len(tokens), pos + MAX_GAP + 1)
        for j in range(pos, limit):
            if tokens[j] == stem:
                pos = j + 1
                break
        else:
            return None
    return pos
