"""A review a revops person can trust: its time, unknown and closed deals, plain words,
and reviewing a pipeline selected by filters instead of named deals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from graphs import Engine
from graphs.engine.errors import InvalidInputError
from nodes.pipeline import RISK_ORDER
from stores.demo import data as demo_data
from stores.settings import Settings


@pytest.fixture
def todays_warehouse(tmp_path: Path) -> Settings:
    """The SMALL demo data without its metadata table (a warehouse of the real world), with
    D-00002's last activity 3 days and 2 hours before now."""
    tables = demo_data.generate(demo_data.SMALL)
    del tables[demo_data.METADATA_TABLE]
    path = tmp_path / "today.duckdb"
    demo_data.write_duckdb(path, tables)
    recent = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=3, hours=2)
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "UPDATE hubspot_deals SET last_activity_at = ? WHERE deal_id = 'D-00002'", [recent]
        )
    return Settings(data_dir=tmp_path / "data", warehouse_url=f"duckdb:///{path}", redis_url=None)


async def test_a_real_warehouse_is_reviewed_against_the_clock(todays_warehouse: Settings) -> None:
    async with Engine(todays_warehouse) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    assert result["as_of"]["source"] == "clock"
    assert result["deals"]["D-00002"]["facts"]["hubspot"]["days_since_activity"] == 3
    report = result["deals"]["D-00002"]["report"]
    assert report["as_of"] == result["as_of"]["at"]


async def test_the_demo_warehouse_reads_as_of_its_recorded_epoch(settings: Settings) -> None:
    async with Engine(settings) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    assert result["as_of"] == {"at": demo_data.EPOCH.isoformat(), "source": "warehouse"}
    deal = demo_data.generate(demo_data.SMALL)["hubspot_deals"].to_pylist()[1]
    expected = (demo_data.EPOCH - deal["last_activity_at"]).days
    assert result["deals"]["D-00002"]["facts"]["hubspot"]["days_since_activity"] == expected


async def test_as_of_in_the_input_wins(settings: Settings) -> None:
    async with Engine(settings) as engine:
        result = await engine.invoke(
            "deal_review", {"deal_ids": ["D-00002"], "as_of": "2026-12-01"}
        )
        with pytest.raises(InvalidInputError, match="as_of"):
            await engine.invoke("deal_review", {"as_of": "last tuesday"})
    assert result["as_of"] == {"at": "2026-12-01T00:00:00", "source": "input"}
    deal = demo_data.generate(demo_data.SMALL)["hubspot_deals"].to_pylist()[1]
    expected = (dt.datetime(2026, 12, 1) - deal["last_activity_at"]).days
    assert result["deals"]["D-00002"]["facts"]["hubspot"]["days_since_activity"] == expected


async def test_unknown_deals_are_not_found_and_closed_deals_are_won_or_lost(
    settings: Settings,
) -> None:
    async with Engine(settings) as engine:
        result = await engine.invoke(
            "deal_review", {"deal_ids": ["NOPE", "D-00003", "D-00005", "D-00007"]}
        )
    reports = {d: result["deals"][d]["report"] for d in result["deal_ids"]}
    assert reports["NOPE"]["status"] == "not_found"
    assert reports["NOPE"]["health_score"] is None and "not found" in reports["NOPE"]["summary"]
    assert reports["D-00003"]["health_score"] is not None  # the rest of the review goes on
    assert (reports["D-00005"]["status"], reports["D-00007"]["status"]) == ("lost", "won")
    assert reports["D-00005"]["health_score"] is None and reports["D-00007"]["health_score"] is None
    assert "not scored as open pipeline" in reports["D-00007"]["summary"]


async def test_summaries_use_plain_words(settings: Settings) -> None:
    ids = [f"D-{i:05d}" for i in range(1, 41)]
    async with Engine(settings) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ids})
    reports = [result["deals"][d]["report"] for d in ids]
    text = " ".join(r["summary"] + " ".join(r["reasons"]) for r in reports)
    assert "is watch at" not in text and "1 urgent or high-priority issues" not in text
    assert "closedlost" not in text and "appointmentscheduled" not in text
    assert any("needs watching" in r["summary"] for r in reports if r["status"] == "watch")
    assert all(r["confidence_note"] for r in reports)


async def test_a_pipeline_is_selected_by_filters_and_ranked(settings: Settings) -> None:
    deals = demo_data.generate(demo_data.SMALL)["hubspot_deals"].to_pylist()
    owner = deals[2]["owner"]
    closing = dt.date(2027, 3, 1)
    async with Engine(settings) as engine:
        result = await engine.invoke(
            "deal_review",
            {"owner": owner, "closing_before": closing.isoformat(), "min_amount": 1000, "limit": 6},
        )
    wanted = sorted(
        (
            d
            for d in deals
            if d["owner"] == owner
            and d["stage"] not in ("closedwon", "closedlost")
            and d["close_date"] < closing
            and d["amount"] >= 1000
        ),
        key=lambda d: (-d["amount"], d["deal_id"]),
    )[:6]
    assert result["deal_ids"] == [d["deal_id"] for d in wanted]
    assert result["selection"]["owner"] == owner
    table = result["pipeline"]
    assert [r["rank"] for r in table] == list(range(1, len(wanted) + 1))
    keys = [(RISK_ORDER[r["status"]], -r["amount"]) for r in table]
    assert keys == sorted(keys)
    assert {r["deal_id"] for r in table} == set(result["deal_ids"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"deal_ids": ["D-00001"], "owner": "sam.rep"}, "not both"),
        ({"limit": 0}, "limit"),
        ({"closing_before": "soon"}, "closing_before"),
        ({"stages": []}, "stages"),
        ({"min_amount": -5}, "min_amount"),
    ],
)
async def test_a_bad_selection_names_the_problem(
    settings: Settings, payload: dict[str, object], field: str
) -> None:
    async with Engine(settings) as engine:
        with pytest.raises(InvalidInputError, match=field):
            await engine.invoke("deal_review", payload)
