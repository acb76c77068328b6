"""The LangGraph API with keys, through the official ``langgraph_sdk`` client: tenants see
only their own, commands are checked, the reviewer is the key, and runs are admitted."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from graphs.durable.store import sqlite_path
from graphs.server.app import create_app
from stores.settings import Settings
from tests.graphs.durable.durable_app import registry_from_env
from tests.graphs.server.auth_support import key_headers, make_key
from tests.graphs.server.live_server import ServerThread

AT_RISK = "D-00003"
HEALTHY = "D-00016"  # healthy in the demo data (Slack-reported risks count too)


async def _status(call: Callable[[], Awaitable[Any]]) -> int:
    """The HTTP status the SDK call failed with (the SDK raises its own error classes
    for some calls and httpx's for others: both are HTTPStatusError)."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await call()
    return refused.value.response.status_code


@pytest.fixture
async def keys(settings: Settings) -> dict[str, str]:
    """Keys of two tenants (two for acme), and a rate-limited one."""
    made = {}
    for name, tenant, options in [
        ("ana", "acme", {}),
        ("ana-ci", "acme", {}),
        ("bo", "globex", {}),
        ("metered", "metered", {"runs_per_minute": 2}),
    ]:
        made[name] = (await make_key(settings, name, tenant=tenant, **options))[1]
    return made


@pytest.fixture
def server(settings: Settings, keys: dict[str, str]) -> Iterator[ServerThread]:
    with ServerThread(create_app(settings, registry=registry_from_env())) as running:
        yield running


async def test_the_sdk_client_works_with_a_key_and_tenants_see_only_their_own(
    server: ServerThread, keys: dict[str, str]
) -> None:
    ana = get_client(url=server.url, api_key=keys["ana"])
    colleague = get_client(url=server.url, api_key=keys["ana-ci"])
    bo = get_client(url=server.url, api_key=keys["bo"])
    thread = await ana.threads.create(metadata={"team": "emea"})
    tid = thread["thread_id"]
    run = await ana.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})
    values = await ana.runs.join(tid, run["run_id"])
    assert values["report"][HEALTHY]["status"] == "healthy"

    for attempt in (
        lambda: bo.threads.get(tid),
        lambda: bo.threads.get_state(tid),
        lambda: bo.threads.get_history(tid),
        lambda: bo.runs.list(tid),
        lambda: bo.runs.get(tid, run["run_id"]),
        lambda: bo.runs.join(tid, run["run_id"]),
        lambda: bo.runs.create(tid, "deal_review", input={}),
        lambda: bo.runs.wait(tid, "deal_review", input={}),
    ):
        assert await _status(attempt) == 404
    # ids are global: another tenant's is taken (409), but nothing of it is shown
    assert await _status(lambda: bo.threads.create(thread_id=tid)) == 409
    assert await _status(lambda: bo.runs.wait(tid, "deal_review", input={},
                                              if_not_exists="create")) == 409  # fmt: skip
    assert tid not in [t["thread_id"] for t in await bo.threads.search(limit=100)]

    found = await colleague.threads.search(limit=100)  # the same tenant, another key
    (mine,) = [t for t in found if t["thread_id"] == tid]
    assert mine["status"] == "idle" and mine["metadata"]["team"] == "emea"
    assert mine["metadata"]["graph_id"] == "deal_review"  # a run records it (LangGraph)
    assert mine["values"]["report"][HEALTHY]["status"] == "healthy"  # from the row
    assert (await colleague.runs.get(tid, run["run_id"]))["status"] == "success"
    assert [r["run_id"] for r in await colleague.runs.list(tid)] == [run["run_id"]]


async def test_commands_are_checked_and_the_reviewer_is_the_key(
    server: ServerThread, keys: dict[str, str]
) -> None:
    ana = get_client(url=server.url, api_key=keys["ana"])
    tid = (await ana.threads.create())["thread_id"]
    paused = await ana.runs.wait(
        tid, "deal_review", input={"deal_ids": [AT_RISK], "require_approval": True}
    )
    assert paused["__interrupt__"][0]["value"]["kind"] == "deal_approval"
    refused: list[dict[str, Any]] = [
        {"update": {"require_approval": False}, "goto": "synthesis"},  # skip the approval
        {"goto": "synthesis"},
        {"update": {"report": {AT_RISK: {"status": "healthy", "health_score": 100}}}},
        {"update": {"errors": "<script>"}},  # server-owned, and not a list
        {"update": {"deal_ids": "D-00001"}},  # the one key a caller may write, wrong type
        {"update": {"no_such_key": 1}},
        {"update": ["not", "an", "object"]},
        {"resume": {"decision": "maybe"}},
        {"resume": {"decision": "approve", "bonus": True}},
        {"resume": 42},
    ]
    for command in refused:
        status = await _status(lambda c=command: ana.runs.wait(tid, "deal_review", command=c))
        assert status == 422, command
    state = await ana.threads.get_state(tid)
    assert state["next"] == ["synthesis"] and "report" not in state["values"]
    assert (await ana.threads.get(tid))["status"] == "interrupted"

    done = await ana.runs.wait(tid, "deal_review", command={
        "resume": {"decision": "Approve", "note": "checked", "reviewer": "the-ceo"}})  # fmt: skip
    approval = done["report"][AT_RISK]["approval"]
    assert approval == {"decision": "approve", "note": "checked", "reviewer": "ana"}
    assert (await ana.threads.get(tid))["status"] == "idle"
    nothing_pending = await _status(
        lambda: ana.runs.wait(tid, "deal_review", command={"resume": "approve"})
    )
    assert nothing_pending == 422
    # the one writable key, well typed, is accepted
    await ana.runs.wait(tid, "deal_review", command={"update": {"deal_ids": [HEALTHY]}})
    assert (await ana.threads.get_state(tid))["values"]["deal_ids"] == [HEALTHY]


async def test_a_key_over_its_quota_gets_429_with_retry_after(
    server: ServerThread, keys: dict[str, str]
) -> None:
    metered = get_client(url=server.url, api_key=keys["metered"])
    for _ in range(2):
        await metered.runs.wait(None, "deal_review", input={"deal_ids": [HEALTHY]})
    async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                 headers=key_headers(keys["metered"])) as http:  # fmt: skip
        over = await http.post("/runs/wait", json={"assistant_id": "deal_review"})
        assert over.status_code == 429, over.text
        assert 1 <= int(over.headers["retry-after"]) <= 60
        own = await http.post("/graphs/deal_review/invoke", json={})  # one quota for both
        assert own.status_code == 429 and own.json()["error"] == "quota_exceeded"
        assert 1 <= int(own.headers["retry-after"]) <= 60
        # other keys are not affected
        other = await http.post("/graphs/deal_review/invoke", json={},
                                headers=key_headers(keys["bo"]))  # fmt: skip
        assert other.status_code == 200


def _corrupt_latest_checkpoint(settings: Settings, thread_id: str) -> None:
    with sqlite3.connect(sqlite_path(settings.with_absolute_paths())) as conn:
        changed = conn.execute(
            "UPDATE checkpoints SET checkpoint = ? WHERE thread_id = ?",
            (b"\xc1 not msgpack", thread_id),
        ).rowcount
    assert changed > 0


async def test_search_reads_only_the_thread_table(
    server: ServerThread, keys: dict[str, str], settings: Settings
) -> None:
    ana = get_client(url=server.url, api_key=keys["ana"])
    broken = (await ana.threads.create())["thread_id"]
    fine = (await ana.threads.create())["thread_id"]
    for tid in (broken, fine):
        await ana.runs.wait(tid, "deal_review", input={"deal_ids": [HEALTHY]})
    _corrupt_latest_checkpoint(settings, broken)
    engine = server.server.config.app.state.engine
    reads = 0
    real = engine.threads.get_state

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await real(*args, **kwargs)

    engine.threads.get_state = counted
    listed = {t["thread_id"]: t for t in await ana.threads.search(limit=50)}
    assert reads == 0  # not one checkpoint read, however many threads
    assert listed[broken]["values"]["report"][HEALTHY]["status"] == "healthy"
    async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                 headers=key_headers(keys["ana"])) as http:  # fmt: skip
        unreadable = await http.get(f"/threads/{broken}/state")
        assert unreadable.status_code == 409 and "cannot be read" in unreadable.json()["detail"]
        assert (await http.get(f"/threads/{fine}/state")).status_code == 200
        assert (await http.post("/threads/search", json={})).status_code == 200


async def test_sdk_runs_go_through_admission_and_their_timeout(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPHIA_TEST_SLOW_NODE", "linear")
    monkeypatch.setenv("SOPHIA_TEST_SLOW_S", "4")
    app = create_app(settings, registry=registry_from_env(), max_concurrency=1,
                     max_waiting=0, request_timeout_s=2.0)  # fmt: skip
    with ServerThread(app) as server:
        client = get_client(url=server.url)
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "deal_review", input={"deal_ids": [HEALTHY]})
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            for _ in range(600):
                figures = (await http.get("/stats")).json()["http"]
                if figures["active"] == 1:
                    break
                await asyncio.sleep(0.02)
            assert figures["active"] == 1 and figures["in_flight"] == 1  # counted
            busy = await http.post("/graphs/deal_review/invoke", json={})
            assert busy.status_code == 503 and "retry-after" in busy.headers
            other = await http.post("/runs/wait", json={"assistant_id": "deal_review"})
            assert other.status_code == 503 and "retry-after" in other.headers
        outcome = await client.runs.join(tid, run["run_id"])  # bounded: 2 s + margin
        assert outcome["__error__"]["error"] == "timeout"
        assert (await client.runs.get(tid, run["run_id"]))["status"] == "timeout"
        manager = app.state.sdk_runs
        assert len(manager.locks) == 0 and manager.active == {}  # nothing held when idle
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            assert (await http.get("/stats")).json()["http"]["active"] == 0
