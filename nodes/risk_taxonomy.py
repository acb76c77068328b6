"""The deal risk taxonomy as data: risks, their descriptions, examples and word lists.

`load_taxonomy(path)` reads a TOML file (default: ``nodes/risk_taxonomy.toml``, shipped
with the package; `Settings.risk_taxonomy` overrides it) and compiles its word lists
into a `Lexicon` the detector matches on word stems. A malformed file raises
`TaxonomyError` naming the file and the problem. See the shipped file for the format.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import snowballstemmer

from stores.errors import ConfigurationError

DEFAULT_TAXONOMY = Path(__file__).with_name("risk_taxonomy.toml")
STABLE_KEYS = ("budget", "competitor", "legal", "security", "timeline", "champion")
RISK_LISTS = ("topics", "problems", "resolutions", "signals")
SHARED_LISTS = ("negators", "hedges", "problems", "resolutions")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_CONTRACTIONS = (
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'(s|re|ve|ll|d|m)\b"), ""),
)
_WORD = re.compile(r"[a-z0-9]+")


class TaxonomyError(ConfigurationError):
    """The risk taxonomy file is missing, not TOML, or not in the expected shape."""


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")


class Stemmer:
    """English Snowball stems with a bounded memo (stemming a word costs ~40 us)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._memo: dict[str, str] = {}
        self._max = max_entries

    def __call__(self, word: str) -> str:
        stem = self._memo.get(word)
        if stem is None:
            if len(self._memo) >= self._max:
                self._memo.clear()
            stem = self._memo[word] = str(_stemmer().stemWord(word))
        return stem


def words(text: str) -> list[str]:
    """Lower-case words of `text`, contractions opened ("won't" -> "will not")."""
    lowered = text.lower().translate(_APOSTROPHES)
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    return _WORD.findall(lowered)


@dataclass(frozen=True)
class Risk:
    """One risk of the taxonomy: its key, what it means, examples, and its word lists."""

    key: str
    description: str
    examples: tuple[str, ...]
    topics: tuple[str, ...]
    problems: tuple[str, ...]
    resolutions: tuple[str, ...]
    signals: tuple[str, ...]
    absence_is_risk: bool = False
    shared_cues: bool = True


@dataclass(frozen=True)
class Entry:
    """A compiled word-list entry: its stems, what it is, and the risk it belongs to."""

    stems: tuple[str, ...]
    kind: str  # topic | problem | resolution | signal | negator | hedge
    risk: str | None
    text: str
    words: tuple[str, ...] = ()


@dataclass
class Lexicon:
    """Every entry of a taxonomy, indexed by its first stem for one pass over a text."""

    stem: Stemmer
    by_first: dict[str, list[Entry]] = field(default_factory=dict)

    def add(self, phrase: str, kind: str, risk: str | None) -> None:
        """Index `phrase` (stemmed) as an entry of `kind` for `risk` (None: shared)."""
        surface = tuple(words(phrase))
        stems = tuple(self.stem(w) for w in surface)
        if stems:
            entry = Entry(stems, kind, risk, phrase, surface)
            self.by_first.setdefault(stems[0], []).append(entry)


@dataclass(frozen=True)
class Taxonomy:
    """The risks by key, the shared word lists, and the compiled lexicon."""

    risks: Mapping[str, Risk]
    shared: Mapping[str, tuple[str, ...]]
    lexicon: Lexicon
    source: str

    def describe(self) -> dict[str, str]:
        """Risk key -> its description."""
        return {k: r.description for k, r in self.risks.items()}


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """The taxonomy in the TOML file at `path` (None: the shipped one), compiled. A file
    without a ``[shared]`` table uses the shipped one's (negators, hedges, shared cues)."""
    chosen = Path(path) if path is not None else DEFAULT_TAXONOMY
    try:
        raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"cannot read the risk taxonomy {chosen}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"the risk taxonomy {chosen} is not valid TOML: {exc}") from exc
    if "shared" not in raw and chosen != DEFAULT_TAXONOMY:
        # a taxonomy of its own risks still speaks English: negators, hedges, shared cues
        raw = {**raw, "shared": tomllib.loads(DEFAULT_TAXONOMY.read_text("utf-8"))["shared"]}
    return parse_taxonomy(raw, source=str(chosen))


def parse_taxonomy(raw: Mapping[str, Any], *, source: str = "<data>") -> Taxonomy:
    """Check and compile a taxonomy already read from TOML."""
    risks_raw = raw.get("risks")
    if not isinstance(risks_raw, dict) or not risks_raw:
        raise TaxonomyError(f"the risk taxonomy {source} has no [risks.<key>] tables")
    shared_raw = raw.get("shared", {})
    if not isinstance(shared_raw, dict):
        raise TaxonomyError(f"the risk taxonomy {source}: [shared] must be a table")
    shared = {
        name: _strings(shared_raw.get(name, []), f"shared.{name}", source) for name in SHARED_LISTS
    }
    risks: dict[str, Risk] = {}
    for key, body in risks_raw.items():
        if not isinstance(body, dict):
            raise TaxonomyError(f"the risk taxonomy {source}: risks.{key} must be a table")
        lists = {n: _strings(body.get(n, []), f"risks.{key}.{n}", source) for n in RISK_LISTS}
        if not lists["topics"] and not lists["signals"]:
            raise TaxonomyError(
                f"the risk taxonomy {source}: risks.{key} needs topics or signals to be heard"
            )
        risks[key] = Risk(
            key=key,
            description=str(body.get("description", key)),
            examples=_strings(body.get("examples", []), f"risks.{key}.examples", source),
            absence_is_risk=bool(body.get("absence_is_risk", False)),
            shared_cues=bool(body.get("shared_cues", True)),
            **lists,
        )
    lexicon = Lexicon(Stemmer())
    for name, kind in (
        ("negators", "negator"),
        ("hedges", "hedge"),
        ("problems", "problem"),
        ("resolutions", "resolution"),
    ):
        for phrase in shared[name]:
            lexicon.add(phrase, kind, None)
    for risk in risks.values():
        for name, kind in (
            ("topics", "topic"),
            ("problems", "problem"),
            ("resolutions", "resolution"),
            ("signals", "signal"),
        ):
            for phrase in getattr(risk, name):
                lexicon.add(phrase, kind, risk.key)
    return Taxonomy(risks=risks, shared=shared, lexicon=lexicon, source=source)


def _strings(value: Any, where: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaxonomyError(f"the risk taxonomy {source}: {where} must be a list of strings")
    return tuple(value)


def missing_stable_keys(keys: Iterable[str]) -> list[str]:
    """Which of the six stable risk keys `keys` lacks (an override may drop some)."""
    have = set(keys)
    return [k for k in STABLE_KEYS if k not in have]
