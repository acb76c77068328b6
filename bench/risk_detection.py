"""The risk detector: precision and recall per risk, how the method was chosen, its cost.

Rows:

- one per risk on the hand-labelled evaluation set (tests/nodes/risk_eval.tsv):
  precision and recall of the shipped detector (lexical rules on stems with negation
  scope), and F1 against the alternative measured, nearest taxonomy example by the
  project's local embedder (HashingEmbeddings, cosine >= threshold, best threshold);
- macro F1 of lexical vs embeddings vs both (union), and on the held-out third;
- a 30-deal review on the embedded warehouse (DuckDB, demo data at scale 0.1) with the
  detector vs with a detector that hears nothing, p50 of whole runs (each run with a
  cold detector memo, warm caches); and the detector's own time on that review's lines
  against the warehouse reads the review waits on.

    uv run python -m bench.risk_detection [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import BenchRow, main
from nodes.risk_detector import Detection, RiskDetector
from nodes.risk_taxonomy import STABLE_KEYS, Taxonomy, load_taxonomy
from stores.memory.embeddings import HashingEmbeddings
from tests.nodes.risk_scoring import held_out, load_eval_set, macro_f1, score

PRECISION_FLOOR, RECALL_FLOOR = 0.85, 0.75
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
REVIEW_DEALS = 30


class _Deaf(RiskDetector):
    """A detector that hears nothing (the review without risk detection)."""

    def detect(self, text: str) -> tuple[Detection, ...]:
        return ()


def embedding_predictor(taxonomy: Taxonomy, texts: list[str]) -> Callable[[str, float], set[str]]:
    """Nearest taxonomy example by cosine of the local embedder (the resolved example of
    each risk, its last, is left out: it is a counter-example)."""
    embedder = HashingEmbeddings(384)
    examples = [(k, e) for k, r in taxonomy.risks.items() for e in r.examples[:-1]]
    sims = embedder.embed_array(texts) @ embedder.embed_array([e for _, e in examples]).T
    row = {t: i for i, t in enumerate(texts)}

    def predict(text: str, threshold: float) -> set[str]:
        return {examples[j][0] for j in np.nonzero(sims[row[text]] >= threshold)[0]}

    return predict


def quality_rows() -> list[BenchRow]:
    """Per-risk precision/recall and the method comparison on the evaluation set."""
    taxonomy = load_taxonomy()
    detector = RiskDetector(taxonomy)
    lines = load_eval_set()
    lexical = lambda text: {d.risk for d in detector.detect(text)}  # noqa: E731
    by_embedding = embedding_predictor(taxonomy, [ln.text for ln in lines])
    best = max(
        THRESHOLDS,
        key=lambda th: macro_f1(score(lambda t: by_embedding(t, th), lines, STABLE_KEYS)),
    )
    embedded = lambda text: by_embedding(text, best)  # noqa: E731
    ours = score(lexical, lines, STABLE_KEYS)
    theirs = score(embedded, lines, STABLE_KEYS)
    both = score(lambda t: lexical(t) | embedded(t), lines, STABLE_KEYS)
    rows = [
        BenchRow(
            f"{risk}: precision {s.precision:.2f}, recall {s.recall:.2f} "
            f"({s.tp + s.fn} lines); F1 embeddings vs lexical",
            theirs[risk].f1,
            s.f1,
            "F1",
            f"P >= {PRECISION_FLOOR}, R >= {RECALL_FLOOR}",
            s.precision >= PRECISION_FLOOR and s.recall >= RECALL_FLOOR,
        )
        for risk, s in ours.items()
    ]
    rows.append(
        BenchRow(
            f"macro F1, {len(lines)} lines: embeddings (cos >= {best}) vs lexical",
            macro_f1(theirs),
            macro_f1(ours),
            "F1",
            "lexical best",
            macro_f1(ours) >= max(macro_f1(theirs), macro_f1(both)),
        )
    )
    rows.append(
        BenchRow(
            "macro F1: lexical + embeddings (union) vs lexical alone",
            macro_f1(both),
            macro_f1(ours),
            "F1",
            "union no better",
            macro_f1(ours) >= macro_f1(both),
        )
    )
    held = held_out(lines)
    held_f1 = macro_f1(score(lexical, held, STABLE_KEYS))
    rows.append(
        BenchRow(
            f"macro F1 on the held-out third ({len(held)} lines)",
            float("nan"),
            held_f1,
            "F1",
            ">= 0.85",
            held_f1 >= 0.85,
        )
    )
    return rows


async def cost_rows(quick: bool) -> list[BenchRow]:
    """A 30-deal review with vs without the detector, and the detector vs the reads."""
    from graphs.engine.engine import Engine
    from stores.demo import data as demo_data
    from stores.settings import Settings

    rounds = 3 if quick else 9
    taxonomy = load_taxonomy()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        demo_data.write_duckdb(path, demo_data.generate(demo_data.DemoSizes().scaled(0.1)))
        settings = Settings(
            data_dir=Path(tmp) / "data",
            warehouse_url=f"duckdb:///{path}",
            redis_url=None,
            trace_file=False,
            gc_freeze=False,
        )
        ids = [f"D-{i:05d}" for i in range(1, REVIEW_DEALS + 1)]
        async with Engine(settings, configure_telemetry=False) as engine:
            resources = engine.resources
            timings: dict[str, list[float]] = {"with": [], "without": []}
            for arm in ("with", "without") * (rounds + 1):
                resources.risks = RiskDetector(taxonomy) if arm == "with" else _Deaf(taxonomy)
                started = time.perf_counter()
                await engine.invoke("deal_review", {"deal_ids": ids})
                timings[arm].append((time.perf_counter() - started) * 1000)
            texts = await _review_lines(engine, ids)
        cold = RiskDetector(taxonomy)
        started = time.perf_counter()
        cold.detect_many(texts)
        detect_ms = (time.perf_counter() - started) * 1000
    with_p50 = statistics.median(timings["with"][1:])
    without_p50 = statistics.median(timings["without"][1:])
    return [
        BenchRow(
            f"{REVIEW_DEALS}-deal review (embedded DuckDB), p50: without vs with the detector",
            without_p50,
            with_p50,
            "ms",
            "with < 1000 ms",
            with_p50 < 1000,
        ),
        BenchRow(
            f"detector on the review's {len(texts)} lines ({len(set(texts))} distinct, cold) "
            "vs the review's reads",
            without_p50,
            detect_ms,
            "ms",
            "detector < reads",
            detect_ms < without_p50,
        ),
    ]


async def _review_lines(engine: object, ids: list[str]) -> list[str]:
    """The customer lines and Slack messages the review of `ids` reads (what it detects in)."""
    wh = engine.resources.warehouse  # type: ignore[attr-defined]
    calls = [c for rows in await wh.loader("gong_calls", "deal_id").load_many(ids) for c in rows]
    segs = await wh.loader("gong_transcripts", "call_id").load_many([c["call_id"] for c in calls])
    chans = [
        c for rows in await wh.loader("slack_channels", "deal_id").load_many(ids) for c in rows
    ]
    msgs = await wh.loader("slack_messages", "channel_id").load_many(
        [c["channel_id"] for c in chans]
    )
    return [s["text"] for rows in segs for s in rows if s["role"] == "customer"] + [
        m["text"] for rows in msgs for m in rows if not m["is_question"]
    ]


async def run(quick: bool) -> list[BenchRow]:
    """The quality rows, then the cost rows."""
    return [*quality_rows(), *await cost_rows(quick)]


if __name__ == "__main__":
    main(run, "risk detection: quality on the evaluation set, cost in a review")
