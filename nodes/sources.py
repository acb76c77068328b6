"""The four source agents: HubSpot, Gong, Slack and Linear.

Each agent reads its rows through the warehouse's batch loaders, so reviewing N deals
costs a fixed number of round trips per source whatever N is, and loads that parallel
branches make in the same event-loop tick coalesce into one statement. Each returns
facts per deal id under its own state key. Recency is measured against the run's as-of
time (`nodes.clock.review_time`); risks are heard by the risk detector in what customers
say on calls and in the deal's Slack channel, each with its evidence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from langgraph.runtime import Runtime

from nodes.clock import days_between, review_time
from nodes.context import Resources
from nodes.risk_evidence import Said, open_risks
from nodes.state import DealReviewState

OPEN_ISSUE_STATES = frozenset({"backlog", "todo", "in_progress", "in_review", "blocked"})
# Whose words count as the buyer's on a call (Gong calls them external participants).
CUSTOMER_ROLES = frozenset({"customer", "external", "prospect", "buyer"})


async def _deals(runtime: Runtime[Resources], deal_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The HubSpot deal row of each id that exists (shared by every agent, coalesced)."""
    rows = await runtime.context.warehouse.loader("hubspot_deals", "deal_id").load_many(deal_ids)
    return {deal_id: found[0] for deal_id, found in zip(deal_ids, rows, strict=True) if found}


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _within(value: Any, now: dt.datetime, days: int) -> bool:
    since = days_between(value, now)
    return since is not None and since <= days


async def hubspot_agent(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Deal amount, stage, owner, close date, last activity, and the company behind it."""
    wh = runtime.context.warehouse
    deal_ids = state["deal_ids"]
    # the as-of time is asked for in the first tick, with the first load, by every agent
    # that needs it: the loads coalesce into one statement
    deals, as_of = await _gather(_deals(runtime, deal_ids), review_time(state, runtime))
    company_ids = sorted({d["company_id"] for d in deals.values()})
    companies_rows, contacts_rows = await _gather(
        wh.loader("hubspot_companies", "company_id").load_many(company_ids),
        wh.loader("hubspot_contacts", "company_id").load_many(company_ids),
    )
    companies = {c: rows[0] for c, rows in zip(company_ids, companies_rows, strict=True) if rows}
    contacts = dict(zip(company_ids, contacts_rows, strict=True))
    now = as_of.at
    facts: dict[str, Any] = {}
    for deal_id in deal_ids:
        deal = deals.get(deal_id)
        if deal is None:
            facts[deal_id] = {"found": False}
            continue
        company = companies.get(deal["company_id"], {})
        facts[deal_id] = {
            "found": True,
            "name": deal["name"],
            "amount": float(deal["amount"]),
            "stage": deal["stage"],
            "owner": deal["owner"],
            "close_date": _iso(deal["close_date"]),
            "last_activity_at": _iso(deal["last_activity_at"]),
            "days_since_activity": days_between(deal["last_activity_at"], now),
            "company_id": deal["company_id"],
            "company": company.get("name"),
            "industry": company.get("industry"),
            "contacts": len(contacts.get(deal["company_id"], [])),
        }
    return {"hubspot": facts}


async def gong_agent(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Calls per deal, the reps' share of talk time, and the risks customers raised on calls
    (each with its evidence: the call, the line, the speaker, when)."""
    wh = runtime.context.warehouse
    deal_ids = state["deal_ids"]
    calls_per_deal, as_of = await _gather(
        wh.loader("gong_calls", "deal_id").load_many(deal_ids), review_time(state, runtime)
    )
    call_ids = [c["call_id"] for calls in calls_per_deal for c in calls]
    segments_rows, participants_rows = await _gather(
        wh.loader("gong_transcripts", "call_id").load_many(call_ids),
        wh.loader("gong_participants", "call_id").load_many(call_ids),
    )
    segments = dict(zip(call_ids, segments_rows, strict=True))
    participants = dict(zip(call_ids, participants_rows, strict=True))
    now = as_of.at
    detector = runtime.context.risk_detector()
    facts: dict[str, Any] = {}
    for deal_id, calls in zip(deal_ids, calls_per_deal, strict=True):
        rep_s = total_s = 0
        said: list[Said] = []
        for call in calls:
            for p in participants.get(call["call_id"], []):
                total_s += int(p["talk_time_s"])
                rep_s += int(p["talk_time_s"]) if p["role"] == "rep" else 0
            said.extend(
                Said(
                    seg["text"], "gong", call["title"], call["call_id"], seg.get("speaker"),
                    call["started_at"],
                )
                for seg in segments.get(call["call_id"], [])
                if str(seg.get("role", "")).lower() in CUSTOMER_ROLES and seg.get("text")
            )
        last = max((c["started_at"] for c in calls), default=None)
        facts[deal_id] = {
            "call_count": len(calls),
            "calls_last_30_days": sum(1 for c in calls if _within(c["started_at"], now, 30)),
            "last_call_at": _iso(last),
            # the share of call time our reps spoke (customers the rest)
            "rep_talk_ratio": round(rep_s / total_s, 3) if total_s else None,
            "open_risks": open_risks(said, detector),
        }
    return {"gong": facts}


async def slack_agent(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Message volume in each deal's channel, the questions nobody answered, and the risks
    the team reported there (each with its evidence)."""
    wh = runtime.context.warehouse
    deal_ids = state["deal_ids"]
    channels_rows, as_of = await _gather(
        wh.loader("slack_channels", "deal_id").load_many(deal_ids), review_time(state, runtime)
    )
    channel_ids = [rows[0]["channel_id"] for rows in channels_rows if rows]
    messages_rows = await wh.loader("slack_messages", "channel_id").load_many(channel_ids)
    messages = dict(zip(channel_ids, messages_rows, strict=True))
    now = as_of.at
    detector = runtime.context.risk_detector()
    facts: dict[str, Any] = {}
    for deal_id, channel_rows in zip(deal_ids, channels_rows, strict=True):
        if not channel_rows:
            facts[deal_id] = {
                "channel": None,
                "message_count": 0,
                "questions": 0,
                "unanswered_questions": [],
                "open_risks": [],
            }
            continue
        channel = channel_rows[0]["name"]
        msgs = messages.get(channel_rows[0]["channel_id"], [])
        questions = [m for m in msgs if m["is_question"]]
        unanswered = sorted(
            (m for m in questions if int(m["reply_count"]) == 0),
            key=lambda m: m["ts"],
            reverse=True,
        )
        said = [
            Said(m["text"], "slack", f"#{channel}", m["message_id"], m["user_name"], m["ts"])
            for m in msgs
            if m.get("text") and not m["is_question"]
        ]
        facts[deal_id] = {
            "channel": channel,
            "message_count": len(msgs),
            "messages_last_14_days": sum(1 for m in msgs if _within(m["ts"], now, 14)),
            "last_message_at": _iso(max((m["ts"] for m in msgs), default=None)),
            "questions": len(questions),
            "unanswered_questions": [
                {"text": m["text"], "by": m["user_name"], "at": _iso(m["ts"])}
                for m in unanswered[:5]
            ],
            "unanswered_count": len(unanswered),
            "open_risks": open_risks(said, detector),
        }
    return {"slack": facts}


async def linear_agent(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """Open and blocked issues of each deal's Linear project."""
    wh = runtime.context.warehouse
    deal_ids = state["deal_ids"]
    projects_rows = await wh.loader("linear_projects", "deal_id").load_many(deal_ids)
    project_ids = [rows[0]["project_id"] for rows in projects_rows if rows]
    issues_rows = await wh.loader("linear_issues", "project_id").load_many(project_ids)
    issues = dict(zip(project_ids, issues_rows, strict=True))
    facts: dict[str, Any] = {}
    for deal_id, project_rows in zip(deal_ids, projects_rows, strict=True):
        if not project_rows:
            facts[deal_id] = {"project": None, "open_issues": 0, "blocked_issues": []}
            continue
        project = project_rows[0]
        items = issues.get(project["project_id"], [])
        open_items = [i for i in items if i["state"] in OPEN_ISSUE_STATES]
        blocked = [i for i in open_items if i["state"] == "blocked"]
        facts[deal_id] = {
            "project": project["name"],
            "project_state": project["state"],
            "total_issues": len(items),
            "open_issues": len(open_items),
            "urgent_open": sum(1 for i in open_items if int(i["priority"]) in (1, 2)),
            "blocked_issues": [{"id": i["issue_id"], "title": i["title"]} for i in blocked],
        }
    return {"linear": facts}


async def _gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))
