"""The demo data: deterministic for a seed, linked across sources, written atomically."""

from __future__ import annotations

from pathlib import Path

import duckdb

from stores.demo import data as demo_data


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = demo_data.generate(demo_data.SMALL, seed=7)
    b = demo_data.generate(demo_data.SMALL, seed=7)
    c = demo_data.generate(demo_data.SMALL, seed=8)
    assert all(a[name].equals(b[name]) for name in demo_data.TABLE_NAMES)
    assert not a["hubspot_deals"].equals(c["hubspot_deals"])


def test_every_link_resolves() -> None:
    t = {k: v.to_pylist() for k, v in demo_data.generate(demo_data.SMALL).items()}
    companies = {c["company_id"] for c in t["hubspot_companies"]}
    deals = {d["deal_id"]: d for d in t["hubspot_deals"]}
    calls = {c["call_id"]: c for c in t["gong_calls"]}
    assert all(d["company_id"] in companies for d in deals.values())
    assert all(
        c["deal_id"] in deals and deals[c["deal_id"]]["company_id"] == c["company_id"]
        for c in calls.values()
    )
    assert all(s["call_id"] in calls for s in t["gong_transcripts"])
    contacts = {c["contact_id"]: c for c in t["hubspot_contacts"]}
    for p in t["gong_participants"]:
        if p["role"] == "customer":  # customers on a call work at the deal's company
            assert contacts[p["contact_id"]]["company_id"] == calls[p["call_id"]]["company_id"]
    channels = {c["channel_id"] for c in t["slack_channels"]}
    assert all(m["channel_id"] in channels for m in t["slack_messages"])
    projects = {p["project_id"] for p in t["linear_projects"]}
    assert all(i["project_id"] in projects for i in t["linear_issues"])
    assert demo_data.DEFAULT_DEAL_ID in deals


def test_default_sizes_meet_the_floor() -> None:
    s = demo_data.DemoSizes()
    assert s.deals >= 5_000 and s.calls >= 20_000 and s.messages >= 100_000 and s.issues >= 10_000


def test_write_duckdb_replaces_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    tables = demo_data.generate(demo_data.SMALL)
    counts = demo_data.write_duckdb(path, tables)
    assert counts["hubspot_deals"] == demo_data.SMALL.deals
    counts2 = demo_data.write_duckdb(path, tables)  # again over the existing file
    assert counts2 == counts
    with duckdb.connect(str(path), read_only=True) as conn:
        (n,) = conn.execute("SELECT count(*) FROM hubspot_deals").fetchone() or (0,)
    assert n == demo_data.SMALL.deals
    assert [p.name for p in tmp_path.iterdir()] == ["wh.duckdb"]
