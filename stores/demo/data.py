"""A deterministic, linked demo dataset of the platform's four sources.

`generate(sizes, seed)` returns one Arrow table per warehouse table (see
docs/architecture.md for the columns). The same sizes and seed always give the same
rows, so tests and benchmarks can rely on them. Each deal carries a hidden risk level
that shapes its calls (risk phrases), its Slack channel (unanswered questions) and its
Linear project (blocked issues), so that reviews of different deals differ in sensible
ways. `write_duckdb(path, tables)` stores the tables in a DuckDB file atomically.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

DEFAULT_SEED = 20261125
DEFAULT_DEAL_ID = "D-00001"
EPOCH = dt.datetime(2026, 11, 1, 9, 0, 0)

TABLE_NAMES = (
    "hubspot_companies",
    "hubspot_contacts",
    "hubspot_deals",
    "gong_calls",
    "gong_participants",
    "gong_transcripts",
    "slack_channels",
    "slack_messages",
    "linear_projects",
    "linear_issues",
)


@dataclass(frozen=True)
class DemoSizes:
    """How many rows of each kind to generate. The defaults make naive patterns hurt."""

    companies: int = 2_000
    contacts: int = 10_000
    deals: int = 5_000
    calls: int = 20_000
    segments_per_call: int = 8
    messages: int = 100_000
    issues: int = 12_000

    def scaled(self, factor: float) -> DemoSizes:
        """These sizes multiplied by `factor`, never below a handful of rows each."""
        return replace(
            self,
            **{
                f.name: max(4, round(getattr(self, f.name) * factor))
                for f in fields(self)
                if f.name != "segments_per_call"
            },
        )


SMALL = DemoSizes(companies=20, contacts=60, deals=40, calls=120, messages=600, issues=150)

_INDUSTRIES = [
    "Retail",
    "Fintech",
    "Healthcare",
    "Logistics",
    "Manufacturing",
    "Media",
    "SaaS",
    "Energy",
    "Insurance",
    "Education",
]
_REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
_ADJ = [
    "Blue",
    "North",
    "Bright",
    "Iron",
    "Silver",
    "Quantum",
    "Rapid",
    "Green",
    "Summit",
    "Atlas",
    "Nova",
    "Harbor",
    "Crimson",
    "Cedar",
    "Pioneer",
    "Vertex",
]
_NOUN = [
    "Peak",
    "River",
    "Forge",
    "Labs",
    "Works",
    "Systems",
    "Analytics",
    "Dynamics",
    "Logic",
    "Cloud",
    "Data",
    "Bridge",
    "Signal",
    "Path",
    "Stack",
    "Grid",
]
_SUFFIX = ["Inc", "LLC", "GmbH", "Ltd", "Corp", "Group"]
_FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Diego",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Marco",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
_LAST = [
    "Ng",
    "Silva",
    "Okafor",
    "Muller",
    "Rossi",
    "Kim",
    "Novak",
    "Haddad",
    "Berg",
    "Costa",
    "Ito",
    "Patel",
    "Moreau",
    "Lund",
    "Duarte",
    "Walsh",
]
_TITLES = [
    "VP Sales",
    "CTO",
    "Head of Data",
    "Procurement Lead",
    "CFO",
    "IT Director",
    "Analytics Manager",
    "COO",
]
_REPS = ["alex.rep", "sam.rep", "jordan.rep", "casey.rep", "morgan.rep", "riley.rep"]
_STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]
_STAGE_P = [0.14, 0.2, 0.2, 0.16, 0.14, 0.09, 0.07]
_CALL_TITLES = [
    "Discovery call",
    "Product demo",
    "Technical deep dive",
    "Pricing review",
    "Security review",
    "Executive sync",
    "Onboarding planning",
    "Renewal check-in",
]
_REP_LINES = [
    "Thanks for joining, let's walk through the dashboards your team asked about.",
    "Here is how the connector syncs your warehouse every fifteen minutes.",
    "I can share the case study from a similar rollout next week.",
    "Let's agree on the success criteria for the pilot.",
    "Our implementation team can start right after signature.",
    "I'll send over the updated proposal with the volume discount.",
]
_CUSTOMER_LINES = [
    "The reporting workflow looks like exactly what our analysts need.",
    "We like the forecasting view, it saves us a weekly spreadsheet.",
    "Our data team wants to see the API documentation.",
    "Can you integrate with our existing single sign-on?",
    "The pilot results were strong for the finance team.",
    "We'd like to expand to the operations group next quarter.",
]
RISK_LINES = {
    "budget": "Honestly the budget is frozen until next quarter.",
    "competitor": "A competitor offered us a lower price for a similar package.",
    "legal": "Legal still has concerns about the data processing terms.",
    "security": "The security review is still pending on our side.",
    "timeline": "The rollout timeline might slip because of a reorganisation.",
    "champion": "Our main sponsor is leaving the company next month.",
}
_MSG_LINES = [
    "Shared the updated deck in the drive folder.",
    "Customer confirmed the demo for Thursday.",
    "Pilot metrics look good so far.",
    "Sent the order form for review.",
    "Notes from today's call are in the CRM.",
    "They loved the new forecasting feature.",
]
_MSG_QUESTIONS = [
    "Has anyone heard back from their procurement team?",
    "Can someone from solutions join the security call?",
    "Do we have a reference customer in their industry?",
    "Who owns the follow-up on the pricing question?",
    "Is the SSO integration on the roadmap for this quarter?",
]
_ISSUE_TITLES = [
    "SSO integration",
    "Custom connector",
    "Dashboard export to PDF",
    "Data residency in EU",
    "Usage-based billing report",
    "API rate limit increase",
    "Audit log retention",
    "Salesforce sync fix",
    "Onboarding checklist",
    "Forecast accuracy bug",
]
_ISSUE_STATES = ["backlog", "todo", "in_progress", "in_review", "done", "canceled", "blocked"]
_PROJECT_STATES = ["planned", "started", "paused", "completed"]


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}-{i:05d}" for i in range(1, n + 1)], dtype=object)


def _pick(
    rng: np.random.Generator, pool: list[str], n: int, p: list[float] | None = None
) -> np.ndarray:
    return np.asarray(pool, dtype=object)[rng.choice(len(pool), size=n, p=p)]


def _times(base: dt.datetime, offsets_s: np.ndarray) -> pa.Array:
    micros = (np.datetime64(base, "us") - offsets_s.astype("timedelta64[s]")).astype(
        "datetime64[us]"
    )
    return pa.array(micros, type=pa.timestamp("us"))


def _grouped_choice(
    rng: np.random.Generator, owner: np.ndarray, n_groups: int, groups: np.ndarray
) -> np.ndarray:
    """For each entry of `groups`, a random index of an item whose `owner` is that group."""
    order = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[order], np.arange(n_groups), side="left")
    ends = np.searchsorted(owner[order], np.arange(n_groups), side="right")
    counts = ends[groups] - starts[groups]
    return order[starts[groups] + (rng.random(len(groups)) * counts).astype(np.int64)]


def generate(sizes: DemoSizes = DemoSizes(), seed: int = DEFAULT_SEED) -> dict[str, pa.Table]:
    """The demo dataset as Arrow tables, identical for identical `sizes` and `seed`."""
    rng = np.random.default_rng(seed)
    n_co, n_ct, n_dl = sizes.companies, max(sizes.contacts, sizes.companies), max(sizes.deals, 1)
    company_ids = _ids("C", n_co)
    companies = pa.table(
        {
            "company_id": company_ids,
            "name": [
                f"{a} {b} {c}"
                for a, b, c in zip(
                    _pick(rng, _ADJ, n_co),
                    _pick(rng, _NOUN, n_co),
                    _pick(rng, _SUFFIX, n_co),
                    strict=True,
                )
            ],
            "industry": _pick(rng, _INDUSTRIES, n_co),
            "region": _pick(rng, _REGIONS, n_co),
            "employees": rng.lognormal(6, 1.2, n_co).astype(np.int64) + 5,
            "created_at": _times(EPOCH, rng.integers(200, 1500, n_co) * 86400),
        }
    )

    # Every company gets at least one contact and one deal, the rest are spread at random.
    contact_company = np.concatenate([np.arange(n_co), rng.integers(0, n_co, n_ct - n_co)])
    first, last = _pick(rng, _FIRST, n_ct), _pick(rng, _LAST, n_ct)
    contacts = pa.table(
        {
            "contact_id": _ids("K", n_ct),
            "company_id": company_ids[contact_company],
            "name": [f"{f} {s}" for f, s in zip(first, last, strict=True)],
            "email": [
                f"{f.lower()}.{s.lower()}{i}@example.com"
                for i, (f, s) in enumerate(zip(first, last, strict=True))
            ],
            "title": _pick(rng, _TITLES, n_ct),
        }
    )

    deal_company = np.concatenate(
        [np.arange(min(n_co, n_dl)), rng.integers(0, n_co, max(0, n_dl - n_co))]
    )
    deal_risk = rng.beta(2.0, 3.0, n_dl)
    deal_ids = _ids("D", n_dl)
    deal_company_ids = company_ids[deal_company]
    last_activity = rng.integers(0, 60, n_dl) * 86400 + (deal_risk * 40 * 86400).astype(np.int64)
    deals = pa.table(
        {
            "deal_id": deal_ids,
            "company_id": deal_company_ids,
            "name": [
                f"{companies['name'][int(c)].as_py()} - {t}"
                for c, t in zip(
                    deal_company,
                    _pick(rng, ["Platform", "Expansion", "Pilot", "Renewal"], n_dl),
                    strict=True,
                )
            ],
            "amount": np.round(rng.lognormal(10.5, 0.9, n_dl), -2),
            "stage": _pick(rng, _STAGES, n_dl, _STAGE_P),
            "owner": _pick(rng, _REPS, n_dl),
            "close_date": pa.array(
                (
                    np.datetime64(EPOCH.date(), "D")
                    + rng.integers(-30, 180, n_dl).astype("timedelta64[D]")
                ),
                type=pa.date32(),
            ),
            "created_at": _times(EPOCH, rng.integers(60, 400, n_dl) * 86400),
            "last_activity_at": _times(EPOCH, last_activity),
        }
    )

    n_calls = sizes.calls
    call_deal = np.concatenate(
        [np.arange(min(n_dl, n_calls)), rng.integers(0, n_dl, max(0, n_calls - n_dl))]
    )
    call_deal.sort(kind="stable")
    call_ids = _ids("G", n_calls)
    calls = pa.table(
        {
            "call_id": call_ids,
            "company_id": deal_company_ids[call_deal],
            "deal_id": deal_ids[call_deal],
            "title": _pick(rng, _CALL_TITLES, n_calls),
            "started_at": _times(EPOCH, rng.integers(3600, 120 * 86400, n_calls)),
            "duration_s": rng.integers(900, 3600, n_calls),
        }
    )

    # Participants: one rep and one or two customer contacts of the call's company.
    n_cust = rng.integers(1, 3, n_calls)
    cust_call = np.repeat(np.arange(n_calls), n_cust)
    cust_contact = _grouped_choice(rng, contact_company, n_co, deal_company[call_deal][cust_call])
    part_call = np.concatenate([np.arange(n_calls), cust_call])
    order = np.argsort(part_call, kind="stable")
    rep_share = rng.beta(5, 4, n_calls)
    duration = calls["duration_s"].to_numpy()
    talk = np.concatenate(
        [duration * rep_share, duration[cust_call] * (1 - rep_share[cust_call]) / n_cust[cust_call]]
    )
    contact_names = np.asarray(contacts["name"].to_pylist(), dtype=object)
    participants = pa.table(
        {
            "call_id": call_ids[part_call[order]],
            "contact_id": pa.array(
                np.concatenate(
                    [np.full(n_calls, None, dtype=object), _ids("K", n_ct)[cust_contact]]
                )[order]
            ),
            "name": np.concatenate(
                [
                    np.asarray(deals["owner"].to_pylist(), dtype=object)[call_deal],
                    contact_names[cust_contact],
                ]
            )[order],
            "role": np.concatenate(
                [
                    np.full(n_calls, "rep", dtype=object),
                    np.full(len(cust_call), "customer", dtype=object),
                ]
            )[order],
            "talk_time_s": talk[order].astype(np.int64),
        }
    )

    # Transcripts: alternating rep/customer lines; riskier deals say risk phrases more often.
    spc = sizes.segments_per_call
    seg_call = np.repeat(np.arange(n_calls), spc)
    seq = np.tile(np.arange(spc), n_calls)
    is_rep = seq % 2 == 0
    risk_keys = list(RISK_LINES)
    says_risk = (~is_rep) & (rng.random(len(seg_call)) < deal_risk[call_deal][seg_call] * 0.35)
    text = np.where(
        is_rep, _pick(rng, _REP_LINES, len(seg_call)), _pick(rng, _CUSTOMER_LINES, len(seg_call))
    )
    text[says_risk] = np.asarray([RISK_LINES[k] for k in risk_keys], dtype=object)[
        rng.integers(0, len(risk_keys), int(says_risk.sum()))
    ]
    transcripts = pa.table(
        {
            "segment_id": [f"T-{i:07d}" for i in range(1, len(seg_call) + 1)],
            "call_id": call_ids[seg_call],
            "seq": seq,
            "speaker": np.where(is_rep, "rep", "customer").astype(object),
            "role": np.where(is_rep, "rep", "customer").astype(object),
            "text": text,
        }
    )

    channel_ids = _ids("S", n_dl)
    channels = pa.table(
        {
            "channel_id": channel_ids,
            "deal_id": deal_ids,
            "company_id": deal_company_ids,
            "name": [f"deal-{d.lower()}" for d in deal_ids],
        }
    )
    n_msg = sizes.messages
    msg_deal = np.sort(rng.integers(0, n_dl, n_msg), kind="stable")
    question = rng.random(n_msg) < 0.25
    msg_text = np.where(question, _pick(rng, _MSG_QUESTIONS, n_msg), _pick(rng, _MSG_LINES, n_msg))
    unanswered = question & (rng.random(n_msg) < deal_risk[msg_deal] * 0.9)
    replies = np.where(unanswered, 0, rng.integers(1, 6, n_msg))
    messages = pa.table(
        {
            "message_id": _ids("M", n_msg)
            if n_msg < 100_000
            else np.array([f"M-{i:06d}" for i in range(1, n_msg + 1)], dtype=object),
            "channel_id": channel_ids[msg_deal],
            "user_name": _pick(rng, [*_REPS, "se.team", "cs.team"], n_msg),
            "ts": _times(EPOCH, rng.integers(600, 90 * 86400, n_msg)),
            "text": msg_text,
            "is_question": question,
            "reply_count": replies,
        }
    )

    project_ids = _ids("P", n_dl)
    projects = pa.table(
        {
            "project_id": project_ids,
            "deal_id": deal_ids,
            "company_id": deal_company_ids,
            "name": [f"Onboarding {d}" for d in deal_ids],
            "state": _pick(rng, _PROJECT_STATES, n_dl),
        }
    )
    n_iss = sizes.issues
    iss_deal = np.sort(rng.integers(0, n_dl, n_iss), kind="stable")
    blocked = rng.random(n_iss) < deal_risk[iss_deal] * 0.3
    state = _pick(rng, _ISSUE_STATES[:-1], n_iss, [0.2, 0.2, 0.15, 0.1, 0.25, 0.1])
    state[blocked] = "blocked"
    issues = pa.table(
        {
            "issue_id": _ids("L", n_iss),
            "project_id": project_ids[iss_deal],
            "title": _pick(rng, _ISSUE_TITLES, n_iss),
            "state": state,
            "priority": rng.integers(0, 5, n_iss),
            "created_at": _times(EPOCH, rng.integers(20, 200, n_iss) * 86400),
            "updated_at": _times(EPOCH, rng.integers(0, 20, n_iss) * 86400),
        }
    )
    return {
        "hubspot_companies": companies,
        "hubspot_contacts": contacts,
        "hubspot_deals": deals,
        "gong_calls": calls,
        "gong_participants": participants,
        "gong_transcripts": transcripts,
        "slack_channels": channels,
        "slack_messages": messages,
        "linear_projects": projects,
        "linear_issues": issues,
    }


def write_duckdb(path: Path, tables: Mapping[str, pa.Table]) -> dict[str, int]:
    """Write `tables` into a new DuckDB file at `path`, replacing it atomically.

    The file is built next to its destination and renamed into place, so a reader never
    sees a half-written warehouse. Returns the row count of each table.
    """
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    with duckdb.connect(str(tmp)) as conn:
        for name, table in tables.items():
            if name not in TABLE_NAMES:
                raise ValueError(f"unknown demo table {name!r}")
            conn.register("_incoming", table)
            conn.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _incoming')  # noqa: S608 - name checked above
            conn.unregister("_incoming")
            counts[name] = table.num_rows
        conn.execute("CHECKPOINT")
    os.replace(tmp, path)
    Path(f"{tmp}.wal").unlink(missing_ok=True)
    return counts
