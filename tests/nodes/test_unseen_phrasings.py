"""Acceptance: the deal review hears risks in words it has never seen, with evidence.

A warehouse is seeded here with three deals whose call transcripts and Slack messages
are written in phrasings that appear nowhere in the package (checked below: no run of
four words of any line occurs in the taxonomy, the generator's phrase bank, or any other
file under nodes/ or stores/). The review must find each deal's risks, with the line,
the speaker, the call or channel and the time as evidence, and must find none where a
line says the subject is fine.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pytest

from graphs import Engine
from stores.settings import Settings
from tests.stores.conftest import write_duckdb

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 6, 15, 12, 0, 0)

# deal -> (customer lines on its call, seller lines in its channel, risks expected)
DEALS = {
    "D-1": (
        [
            "Quick update from our side: purchasing has paused every new vendor contract "
            "until the auditors finish.",
            "Separately, a couple of our engineers are kicking the tyres on Orbitly, which "
            "costs a fraction of yours.",
        ],
        ["fyi the buyer said their money for tooling evaporated after the layoffs"],
        {"budget", "competitor"},
    ),
    "D-2": (
        [
            "Our general counsel keeps rewriting the indemnity wording and won't put her "
            "name to the paper.",
            "Kofi, the sponsor who brought you in, handed in his notice on Friday.",
        ],
        ["heads up, rollout is sliding into autumn per their PMO"],
        {"legal", "champion", "timeline"},
    ),
    "D-3": (
        [
            "Money-wise we're in good shape, the spend got the nod from our finance board.",
            "We aren't entertaining any rival bids, it's you or nothing.",
            "Our penetration testers found nothing worth worrying about.",
        ],
        ["their lawyers are totally fine with the paperwork now, nothing open"],
        set(),
    ),
}


def _four_grams(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {" ".join(words[i : i + 4]) for i in range(len(words) - 3)}


def test_the_phrasings_appear_nowhere_in_the_package() -> None:
    package = " ".join(
        " ".join(re.findall(r"[a-z0-9']+", p.read_text(encoding="utf-8").lower()))
        for folder in ("nodes", "stores")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".toml")
    )
    for calls, messages, _ in DEALS.values():
        for line in (*calls, *messages):
            seen = [g for g in _four_grams(line) if g in package]
            assert not seen, f"{line!r} shares {seen} with the package"


def _tables() -> dict[str, pa.Table]:
    companies, deals, calls, transcripts, channels, messages = [], [], [], [], [], []
    for n, (deal_id, (said, posted, _)) in enumerate(DEALS.items(), start=1):
        company = f"C-{n}"
        companies.append({"company_id": company, "name": f"Buyer {n}", "industry": "Retail",
                          "region": "EMEA", "employees": 500, "created_at": NOW})  # fmt: skip
        deals.append({"deal_id": deal_id, "company_id": company, "name": f"Buyer {n} - Platform",
                      "amount": 50_000.0 * n, "stage": "contractsent", "owner": "pat.seller",
                      "close_date": NOW.date(), "created_at": NOW - dt.timedelta(days=90),
                      "last_activity_at": NOW - dt.timedelta(days=n)})  # fmt: skip
        call_id = f"G-{n}"
        calls.append({"call_id": call_id, "company_id": company, "deal_id": deal_id,
                      "title": f"Check-in {n}", "started_at": NOW - dt.timedelta(days=2),
                      "duration_s": 1800})  # fmt: skip
        for seq, text in enumerate(["Thanks for making the time today.", *said]):
            role = "rep" if seq == 0 else "customer"
            transcripts.append({"segment_id": f"T-{n}-{seq}", "call_id": call_id, "seq": seq,
                                "speaker": "Pat Seller" if role == "rep" else f"Buyer Person {n}",
                                "role": role, "text": text})  # fmt: skip
        channels.append({"channel_id": f"S-{n}", "deal_id": deal_id, "company_id": company,
                         "name": f"deal-{n}"})  # fmt: skip
        for k, text in enumerate(posted):
            messages.append({"message_id": f"M-{n}-{k}", "channel_id": f"S-{n}",
                             "user_name": "pat.seller", "ts": NOW - dt.timedelta(hours=5),
                             "text": text, "is_question": False, "reply_count": 0})  # fmt: skip
    return {
        "hubspot_companies": pa.Table.from_pylist(companies),
        "hubspot_contacts": pa.table({"contact_id": ["K-1"], "company_id": ["C-1"],
                                      "name": ["A"], "email": ["a@x"], "title": ["CTO"]}),
        "hubspot_deals": pa.Table.from_pylist(deals),
        "gong_calls": pa.Table.from_pylist(calls),
        "gong_participants": pa.table({"call_id": ["G-1"], "contact_id": ["K-1"], "name": ["A"],
                                       "role": ["customer"], "talk_time_s": [100]}),
        "gong_transcripts": pa.Table.from_pylist(transcripts),
        "slack_channels": pa.Table.from_pylist(channels),
        "slack_messages": pa.Table.from_pylist(messages),
        "linear_projects": pa.table({"project_id": ["P-1"], "deal_id": ["D-1"],
                                     "company_id": ["C-1"], "name": ["x"], "state": ["started"]}),
        "linear_issues": pa.table({"issue_id": ["L-1"], "project_id": ["P-1"], "title": ["x"],
                                   "state": ["done"], "priority": [3], "created_at": [NOW],
                                   "updated_at": [NOW]}),
    }  # fmt: skip


@pytest.fixture
def unseen_warehouse(tmp_path: Path) -> Settings:
    path = tmp_path / "unseen.duckdb"
    write_duckdb(path, _tables())
    return Settings(data_dir=tmp_path / "data", warehouse_url=f"duckdb:///{path}", redis_url=None)


async def test_review_hears_unseen_risks_with_evidence_and_none_where_negated(
    unseen_warehouse: Settings,
) -> None:
    async with Engine(unseen_warehouse) as engine:
        result = await engine.invoke(
            "deal_review", {"deal_ids": list(DEALS), "as_of": NOW.isoformat()}
        )
    assert result["errors"] == []
    for deal_id, (said, posted, expected) in DEALS.items():
        facts = result["deals"][deal_id]["facts"]
        heard = {r["risk"]: r for src in ("gong", "slack") for r in facts[src]["open_risks"]}
        assert set(heard) == expected, deal_id
        for risk in heard.values():
            for ev in risk["evidence"]:
                assert ev["line"] in (*said, *posted)
                assert ev["speaker"] and ev["where"] and ev["at"] and ev["ref"]
                if ev["source"] == "gong":
                    assert ev["where"] == f"Check-in {deal_id[-1]}"
                    assert ev["speaker"].startswith("Buyer Person")  # the customer, not the rep
                else:
                    assert ev["where"] == f"#deal-{deal_id[-1]}"
    report = result["deals"]["D-3"]["report"]
    assert not any(
        r.startswith(("customers raised", "the team reported")) for r in report["reasons"]
    )
