"""A deterministic, linked demo dataset of the platform's four sources.

`generate(sizes, seed)` returns one Arrow table per warehouse table (see
docs/architecture.md for the columns). The same sizes and seed always give the same
rows, so tests and benchmarks can rely on them. Each deal carries a hidden risk level
that shapes its calls (risks raised in many phrasings: `stores.demo.phrases`), its Slack
channel (unanswered questions, risks reported) and its Linear project (blocked issues),
so that reviews of different deals differ in sensible ways. The metadata table
(`METADATA_TABLE`) records the epoch the data is generated around.
`write_duckdb(path, tables)` stores the tables in a DuckDB file atomically.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from stores.demo import phrases
from stores.demo import vocabulary as v
from stores.demo.ids import DEFAULT_DEAL_ID as DEFAULT_DEAL_ID  # the deal an empty input reviews

DEFAULT_SEED = 20261125
EPOCH = dt.datetime(2026, 11, 1, 9, 0, 0)

METADATA_TABLE = "sophia_metadata"  # key/value rows; "demo_epoch": the time the data is as of
RISK_KEYS = ("budget", "competitor", "legal", "security", "timeline", "champion")
TABLE_NAMES = (
    METADATA_TABLE,
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


def _demo_deal_open(stages: np.ndarray) -> np.ndarray:
    """The default demo deal (the first) is an open deal, so a first run shows a review."""
    if len(stages) and stages[0] in ("closedwon", "closedlost"):
        stages[0] = "decisionmakerboughtin"
    return stages


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
                    _pick(rng, v.ADJ, n_co),
                    _pick(rng, v.NOUN, n_co),
                    _pick(rng, v.SUFFIX, n_co),
                    strict=True,
                )
            ],
            "industry": _pick(rng, v.INDUSTRIES, n_co),
            "region": _pick(rng, v.REGIONS, n_co),
            "employees": rng.lognormal(6, 1.2, n_co).astype(np.int64) + 5,
            "created_at": _times(EPOCH, rng.integers(200, 1500, n_co) * 86400),
        }
    )

    # Every company gets at least one contact and one deal, the rest are spread at random.
    contact_company = np.concatenate([np.arange(n_co), rng.integers(0, n_co, n_ct - n_co)])
    first, last = _pick(rng, v.FIRST, n_ct), _pick(rng, v.LAST, n_ct)
    contacts = pa.table(
        {
            "contact_id": _ids("K", n_ct),
            "company_id": company_ids[contact_company],
            "name": [f"{f} {s}" for f, s in zip(first, last, strict=True)],
            "email": [
                f"{f.lower()}.{s.lower()}{i}@example.com"
                for i, (f, s) in enumerate(zip(first, last, strict=True))
            ],
            "title": _pick(rng, v.TITLES, n_ct),
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
            "stage": _demo_deal_open(_pick(rng, v.STAGES, n_dl, v.STAGE_P)),
            "owner": _pick(rng, v.REPS, n_dl),
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
            "title": _pick(rng, v.CALL_TITLES, n_calls),
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

    # Transcripts: alternating rep/customer lines; riskier deals raise risks more often,
    # in phrasings from the template bank (filled by a stream of their own, so the rest of
    # the data is the same whatever the bank holds); some healthy lines name a subject
    # and say it is fine.
    spc = sizes.segments_per_call
    seg_call = np.repeat(np.arange(n_calls), spc)
    seq = np.tile(np.arange(spc), n_calls)
    is_rep = seq % 2 == 0
    says_risk = (~is_rep) & (rng.random(len(seg_call)) < deal_risk[call_deal][seg_call] * 0.35)
    text = np.where(
        is_rep, _pick(rng, v.REP_LINES, len(seg_call)), _pick(rng, v.CUSTOMER_LINES, len(seg_call))
    )
    risk_of = rng.integers(0, len(RISK_KEYS), int(says_risk.sum()))
    words = np.random.default_rng([seed, 17])
    text[says_risk] = [phrases.risk_line(RISK_KEYS[i], words) for i in risk_of]
    fine = (~is_rep) & ~says_risk & (words.random(len(seg_call)) < 0.05)
    text[fine] = [phrases.resolved_line(words) for _ in range(int(fine.sum()))]
    first_customer = np.searchsorted(cust_call, np.arange(n_calls))
    speaker = np.where(
        is_rep,
        np.asarray(deals["owner"].to_pylist(), dtype=object)[call_deal][seg_call],
        contact_names[cust_contact[first_customer]][seg_call],
    )
    transcripts = pa.table(
        {
            "segment_id": [f"T-{i:07d}" for i in range(1, len(seg_call) + 1)],
            "call_id": call_ids[seg_call],
            "seq": seq,
            "speaker": speaker.astype(object),
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
    msg_text = np.where(
        question, _pick(rng, v.MSG_QUESTIONS, n_msg), _pick(rng, v.MSG_LINES, n_msg)
    )
    unanswered = question & (rng.random(n_msg) < deal_risk[msg_deal] * 0.9)
    replies = np.where(unanswered, 0, rng.integers(1, 6, n_msg))
    # Sellers report some of a risky deal's risks in its channel, and settled ones too.
    posted = ~question & (words.random(n_msg) < deal_risk[msg_deal] * 0.06)
    msg_text[posted] = [
        phrases.slack_risk_line(RISK_KEYS[words.integers(len(RISK_KEYS))], words)
        for _ in range(int(posted.sum()))
    ]
    settled = ~question & ~posted & (words.random(n_msg) < 0.01)
    msg_text[settled] = [phrases.slack_resolved_line(words) for _ in range(int(settled.sum()))]
    messages = pa.table(
        {
            "message_id": _ids("M", n_msg)
            if n_msg < 100_000
            else np.array([f"M-{i:06d}" for i in range(1, n_msg + 1)], dtype=object),
            "channel_id": channel_ids[msg_deal],
            "user_name": _pick(rng, [*v.REPS, "se.team", "cs.team"], n_msg),
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
            "state": _pick(rng, v.PROJECT_STATES, n_dl),
        }
    )
    n_iss = sizes.issues
    iss_deal = np.sort(rng.integers(0, n_dl, n_iss), kind="stable")
    blocked = rng.random(n_iss) < deal_risk[iss_deal] * 0.3
    state = _pick(rng, v.ISSUE_STATES[:-1], n_iss, [0.2, 0.2, 0.15, 0.1, 0.25, 0.1])
    state[blocked] = "blocked"
    issues = pa.table(
        {
            "issue_id": _ids("L", n_iss),
            "project_id": project_ids[iss_deal],
            "title": _pick(rng, v.ISSUE_TITLES, n_iss),
            "state": state,
            "priority": rng.integers(0, 5, n_iss),
            "created_at": _times(EPOCH, rng.integers(20, 200, n_iss) * 86400),
            "updated_at": _times(EPOCH, rng.integers(0, 20, n_iss) * 86400),
        }
    )
    return {
        METADATA_TABLE: metadata_table(),
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


def metadata_table() -> pa.Table:
    """The demo warehouse's metadata: its epoch, so reviews of it read as of that time."""
    return pa.table({"key": ["demo_epoch"], "value": [EPOCH.isoformat()]})


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
