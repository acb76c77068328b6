"""Run bookkeeping: the run record, the runs log, and each engine owning its own figures."""

from __future__ import annotations

import asyncio
import threading

import pytest

import telemetry
from graphs.engine.engine import Engine
from graphs.engine.run_record import FINISHED, RunRecord, error_text, failed_sources
from graphs.engine.run_scope import RunBook, run_scope
from graphs.engine.runs_log import RunsLog
from stores.settings import Settings


def _book(max_runs: int = 200) -> RunBook:
    return RunBook(telemetry.Monitor(), RunsLog(max_runs=max_runs))


def test_runs_log_is_bounded_newest_first_and_counts_statuses() -> None:
    book = _book(max_runs=3)
    for i in range(5):
        book.record("g", f"r{i}", "partial" if i % 2 else "complete", 10.0 * i, trace_id=None)
    assert [r.run_id for r in book.log.recent()] == ["r4", "r3", "r2"]
    assert book.log.totals() == {**dict.fromkeys(FINISHED, 0), "complete": 3, "partial": 2}
    with pytest.raises(ValueError, match="status is one of"):
        book.record("g", "x", "weird", 1.0, trace_id=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has not finished"):
        book.log.add(RunRecord(run_id="p", graph="g", status="running"))
    failed = book.record("g", "f", "failed", 1.0, trace_id=None, error=RuntimeError("x" * 1000))
    assert failed.error is not None and failed.error.startswith("RuntimeError: x")
    assert len(failed.error) == 300


def test_errors_are_short_text_never_a_repr() -> None:
    assert error_text(asyncio.CancelledError()) == "cancelled"
    assert error_text(KeyError("deal")) == "KeyError: 'deal'"
    assert error_text(RuntimeError()) == "RuntimeError"
    assert error_text(None) is None


def test_runs_log_is_safe_across_threads() -> None:
    book = _book(max_runs=100)

    def writer(n: int) -> None:
        for i in range(500):
            book.record("g", f"{n}-{i}", "complete", 1.0, trace_id=None)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert book.log.totals()["complete"] == 2000 and len(book.log) == 100


def test_run_scope_records_results_failures_cancellations_and_missing_results() -> None:
    book = _book()
    with run_scope(book, "g", "ok") as run:
        run.finish(
            {
                "status": "partial",
                "errors": [{"node": "gong", "error": "E", "message": "", "timed_out": True}],
            }
        )
    with pytest.raises(KeyError), run_scope(book, "g", "boom"):
        raise KeyError("deal")
    with pytest.raises(asyncio.CancelledError), run_scope(book, "g", "gone"):
        raise asyncio.CancelledError()  # a client that hung up
    with run_scope(book, "g", "silent"):
        pass
    silent, gone, boom, ok = book.log.recent()
    assert (ok.status, ok.failed_sources) == ("partial", ("gong",))
    assert (boom.status, boom.error) == ("failed", "KeyError: 'deal'")
    assert (gone.status, gone.error) == ("cancelled", "cancelled")
    assert (silent.status, silent.error) == ("failed", "ended without a result")
    assert book.monitor.snapshot()["run.g"]["total_count"] == 4


def test_failed_sources_are_the_failed_nodes_in_order_without_repeats() -> None:
    errors = [
        {"node": "slack", "error": "RuntimeError", "message": "down", "timed_out": False},
        {"node": "gong", "error": "TimeoutError", "message": "", "timed_out": True},
        {"node": "slack", "error": "RuntimeError", "message": "again", "timed_out": False},
    ]
    assert failed_sources(errors) == ("slack", "gong")


async def test_two_engines_in_one_process_keep_their_own_figures(settings: Settings) -> None:
    other = settings.model_copy(update={"data_dir": settings.data_dir.parent / "other"})
    async with Engine(settings) as first, Engine(other) as second:
        await first.invoke("deal_review", {"deal_ids": ["D-00001"]})
        await first.invoke("deal_review", {"deal_ids": ["D-00002"]})
        await second.invoke("memory_recall", {"query": "pricing"})
        assert len(first.runs_log) == 2 and len(second.runs_log) == 1
        assert first.stats()["monitor"]["run.deal_review"]["total_count"] == 2
        assert "run.deal_review" not in second.stats()["monitor"]
        assert second.stats()["monitor"]["run.memory_recall"]["total_count"] == 1
        # what ran inside each engine's runs is timed by that engine's monitor
        assert any(op.startswith("node.") for op in first.monitor.snapshot())
        assert not any(op.startswith("node.hubspot") for op in second.monitor.snapshot())
        assert first.stats()["warehouse"]["statements"] > 0


async def test_opening_an_engine_changes_nothing_process_wide(settings: Settings) -> None:
    import gc

    from opentelemetry import trace

    before = trace.get_tracer_provider()
    frozen = gc.get_freeze_count()
    async with Engine(settings) as engine:
        await engine.invoke("deal_review", {})
        assert trace.get_tracer_provider() is before
        assert gc.get_freeze_count() == frozen
        assert engine.telemetry is None
