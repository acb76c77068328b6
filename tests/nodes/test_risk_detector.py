"""The risk detector on the hand-labelled evaluation set, and the taxonomy as data.

Floors (stated in the issue note): on the whole set, every one of the six risks has
precision >= 0.85 and recall >= 0.75, and the macro F1 is >= 0.88. On the third of the
set held out while the rules were written (`risk_scoring.held_out`), macro F1 >= 0.85.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodes.risk_detector import RiskDetector, load_detector
from nodes.risk_taxonomy import STABLE_KEYS, TaxonomyError, load_taxonomy
from tests.nodes.risk_scoring import held_out, load_eval_set, macro_f1, score

PRECISION_FLOOR, RECALL_FLOOR, MACRO_F1_FLOOR, HELD_OUT_F1_FLOOR = 0.85, 0.75, 0.88, 0.85


@pytest.fixture(scope="module")
def detector() -> RiskDetector:
    return load_detector()


def _predict(detector: RiskDetector):  # type: ignore[no-untyped-def]
    return lambda text: {d.risk for d in detector.detect(text)}


def test_the_evaluation_set_is_big_enough_and_has_negations_and_near_misses() -> None:
    lines = load_eval_set()
    kinds = {ln.kind for ln in lines}
    assert len(lines) >= 200
    assert {"negated", "nearmiss", "hedged", "neutral"} <= kinds
    assert {k for ln in lines for k in ln.labels} == set(STABLE_KEYS)


def test_precision_and_recall_per_risk_clear_the_floors(detector: RiskDetector) -> None:
    scores = score(_predict(detector), load_eval_set(), STABLE_KEYS)
    low = {
        k: (round(s.precision, 2), round(s.recall, 2))
        for k, s in scores.items()
        if s.precision < PRECISION_FLOOR or s.recall < RECALL_FLOOR
    }
    assert not low, f"below the floors (precision, recall): {low}"
    assert macro_f1(scores) >= MACRO_F1_FLOOR


def test_the_held_out_third_clears_its_floor(detector: RiskDetector) -> None:
    scores = score(_predict(detector), held_out(load_eval_set()), STABLE_KEYS)
    assert macro_f1(scores) >= HELD_OUT_F1_FLOOR


def test_negated_lines_are_mostly_not_risks(detector: RiskDetector) -> None:
    negated = [ln for ln in load_eval_set() if ln.kind == "negated"]
    flagged = [ln.text for ln in negated if detector.detect(ln.text)]
    assert len(flagged) <= len(negated) // 10, flagged


def test_each_finding_says_which_words_and_whether_hedged(detector: RiskDetector) -> None:
    (found,) = detector.detect("Our budget may well be cut again in the spring.")
    assert found.risk == "budget" and found.hedged and found.cues
    assert detector.detect("Is the budget going to be cut?") == ()  # a question asks


def test_a_taxonomy_file_replaces_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "risks.toml"
    path.write_text(
        '[risks.procurement]\ndescription = "Vendor onboarding drags."\n'
        'topics = ["vendor onboarding", "supplier portal"]\nproblems = ["drag"]\n'
        'signals = ["new supplier form"]\n',
        encoding="utf-8",
    )
    custom = load_detector(path)
    assert [d.risk for d in custom.detect("Vendor onboarding is dragging on forever.")] == [
        "procurement"
    ]
    assert custom.detect("Vendor onboarding is not dragging at all.") == ()
    assert custom.detect("Our budget is frozen.") == ()  # only its own risks


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[risks.x]\ntopics = 3\n", "risks.x.topics must be a list of strings"),
        ("[risks.x]\ndescription = 'no words'\n", "needs topics or signals"),
        ("risks = [", "not valid TOML"),
        ("version = 1\n", "no [risks.<key>] tables"),
    ],
)
def test_a_malformed_taxonomy_is_refused_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TaxonomyError, match=re.escape(problem)):
        load_taxonomy(path)


def test_a_missing_taxonomy_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read the risk taxonomy"):
        load_taxonomy(tmp_path / "absent.toml")


def test_the_shipped_taxonomy_keeps_the_six_keys() -> None:
    taxonomy = load_taxonomy()
    assert set(STABLE_KEYS) <= set(taxonomy.risks)
    assert all(r.description and r.examples for r in taxonomy.risks.values())
