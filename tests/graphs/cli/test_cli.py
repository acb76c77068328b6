"""The `sophia` command line, in-process and as the installed console script."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from graphs.cli.main import main


@pytest.fixture
def data_dir(tmp_path: Path, small_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SOPHIA_DATA_DIR pointing at a dir holding a copy of the small warehouse."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(small_warehouse, data / "warehouse.duckdb")
    monkeypatch.setenv("SOPHIA_DATA_DIR", str(data))
    monkeypatch.delenv("SOPHIA_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("SOPHIA_REDIS_URL", raising=False)
    return data


def test_run_json_reviews_every_deal_asked_for(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "deal_review", "--deal", "D-00001", "--deal", "D-00002", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["deal_ids"] == ["D-00001", "D-00002"]
    assert result["errors"] == []
    assert all(result["deals"][d]["report"]["health_score"] is not None for d in result["deal_ids"])


def test_run_prints_a_report_with_node_timings(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "deal_review"]) == 0
    out = capsys.readouterr().out
    assert "D-00001" in out and "health" in out
    assert "node timings" in out and "hubspot" in out and "synthesis" in out


def test_trace_draws_the_last_run(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "deal_review", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["trace"]) == 0
    out = capsys.readouterr().out
    assert "deal_review" in out and "hubspot" in out
    assert main(["trace", run_id]) == 0


def test_unknown_graph_is_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "deal_reveiw"]) == 2
    err = capsys.readouterr().err
    assert "unknown graph 'deal_reveiw'" in err and "deal_review" in err
    assert not (data_dir / "traces.jsonl").exists()  # refused before the engine opened


def test_bad_input_is_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "deal_review", "--input", '{"deal_ids": []}']) == 2
    assert "deal_ids" in capsys.readouterr().err


def test_seed_writes_the_warehouse_and_the_memory_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOPHIA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SOPHIA_WAREHOUSE_URL", raising=False)
    assert main(["seed", "--scale", "0.004"]) == 0
    assert (tmp_path / "warehouse.duckdb").exists()
    assert (tmp_path / "memory" / "CURRENT").exists()
    out = capsys.readouterr().out
    assert "Seeded" in out and "Indexed" in out

