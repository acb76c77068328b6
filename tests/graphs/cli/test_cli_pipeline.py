"""`sophia run deal_review`: an unknown deal said plainly, the pipeline table and --csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from graphs.cli.main import main
from tests.graphs.cli.test_cli import data_dir  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.usefixtures("data_dir")


def test_an_unknown_deal_is_reported_as_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "deal_review", "--deal", "NOPE", "--deal", "D-00003"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if " NOPE " in line]
    assert "not found" in row  # one table for several deals: NOPE's row says so, unscored
    assert "confidence 1.0" not in out and "rep talk ratio" not in out
    assert "pipeline: 2 deals ranked by risk" in out
    assert main(["run", "deal_review", "--deal", "NOPE"]) == 0  # alone: in words
    assert "NOPE was not found in HubSpot" in capsys.readouterr().out


def test_a_selection_prints_one_table_and_writes_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "pipeline.csv"
    argv = ["run", "deal_review", "--input", '{"limit": 8}', "--csv", str(target)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pipeline: 8 deals ranked by risk, then amount" in out
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == 8 and [r["rank"] for r in rows] == [str(i) for i in range(1, 9)]
    assert {"deal_id", "status", "health_score", "amount", "risks", "owner"} <= set(rows[0])
