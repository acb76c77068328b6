"""Crons through the official `langgraph_sdk` client against live servers: made, found,
changed, deleted, scoped to their tenant, kept across restarts, and fired as runs, each
scheduled time once however many servers share the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import APIStatusError, NotFoundError, PermissionDeniedError

from graphs.server.langgraph_api.views import assistant_id_of
from stores.settings import Settings
from tests.graphs.server.langgraph_api.sdk_support import as_tenant, live
from tests.graphs.server.live_server import ServerThread

EVERY_SECOND = "* * * * * *"  # croniter: six fields, seconds last
CRON = {"cron_id", "assistant_id", "thread_id", "on_run_completed", "end_time", "schedule",
        "timezone", "created_at", "updated_at", "payload", "user_id", "next_run_date",
        "metadata", "enabled"}  # fmt: skip


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with live(settings) as running:
        yield running


async def eventually(check: Callable[[], Awaitable[Any]], deadline_s: float = 60.0) -> Any:
    """Poll `check()` until it answers something truthy (a loaded machine: generous)."""
    end = time.monotonic() + deadline_s
    while True:
        value = await check()
        if value or time.monotonic() > end:
            return value
        await asyncio.sleep(0.1)


async def test_create_get_update_delete(server: ServerThread) -> None:
    client = get_client(url=server.url)
    before = datetime.now(UTC)
    cron: Any = await client.crons.create(
        "echo", schedule="*/5 * * * *", input={"word": "hi"}, metadata={"team": "a"},
        config={"tags": ["nightly"]},
    )  # fmt: skip
    assert set(cron) == CRON
    assert cron["assistant_id"] == assistant_id_of("echo") and cron["thread_id"] is None
    assert cron["on_run_completed"] == "delete" and cron["enabled"] is True
    assert cron["payload"]["input"] == {"word": "hi"}
    assert cron["payload"]["config"] == {"tags": ["nightly"],
                                         "configurable": {"cron_id": cron["cron_id"]}}  # fmt: skip
    next_at = datetime.fromisoformat(cron["next_run_date"])
    assert before < next_at <= before + timedelta(minutes=5) and next_at.minute % 5 == 0
    async with httpx.AsyncClient(base_url=server.url) as http:
        got = (await http.get(f"/runs/crons/{cron['cron_id']}")).json()
    assert got == cron

    changed: Any = await client.crons.update(
        cron["cron_id"], schedule="0 9 * * *", timezone="Europe/Paris", metadata={"b": 2},
        enabled=False,
    )  # fmt: skip
    assert changed["schedule"] == "0 9 * * *" and changed["enabled"] is False
    assert changed["metadata"] == {"team": "a", "b": 2}
    nine = datetime.fromisoformat(changed["next_run_date"]).astimezone(ZoneInfo("Europe/Paris"))
    assert (nine.hour, nine.minute) == (9, 0)
    ended: Any = await client.crons.update(cron["cron_id"], end_time=before)
    assert ended["end_time"] is not None and ended["next_run_date"] is None  # past its end
    reopened: Any = await client.crons.update(cron["cron_id"], end_time=None, enabled=True)
    assert reopened["end_time"] is None and reopened["next_run_date"] is not None

    await client.crons.delete(cron["cron_id"])
    with pytest.raises(NotFoundError):
        await client.crons.delete(cron["cron_id"])


async def test_search_and_count(server: ServerThread) -> None:
    client = get_client(url=server.url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    a: Any = await client.crons.create("echo", schedule="0 * * * *", metadata={"k": 1})
    b: Any = await client.crons.create_for_thread(tid, "echo", schedule="0 1 * * *")
    c: Any = await client.crons.create("nested", schedule="0 2 * * *", metadata={"k": 1},
                                       enabled=False)  # fmt: skip
    assert b["thread_id"] == tid and b["on_run_completed"] is None
    ids = [x["cron_id"] for x in await client.crons.search()]
    assert ids == [c["cron_id"], b["cron_id"], a["cron_id"]]  # newest first
    assert {x["cron_id"] for x in await client.crons.search(assistant_id="echo")} == {
        a["cron_id"], b["cron_id"]}  # a graph name means its system assistant  # fmt: skip
    assert [x["cron_id"] for x in await client.crons.search(thread_id=tid)] == [b["cron_id"]]
    assert [x["cron_id"] for x in await client.crons.search(enabled=False)] == [c["cron_id"]]
    assert {x["cron_id"] for x in await client.crons.search(metadata={"k": 1})} == {
        a["cron_id"], c["cron_id"]}  # fmt: skip
    by_next = await client.crons.search(sort_by="next_run_date", sort_order="asc")
    dates = [x["next_run_date"] for x in by_next]
    assert dates == sorted(dates)
    assert len(await client.crons.search(limit=1, offset=2)) == 1
    picked = await client.crons.search(select=["cron_id", "schedule"])
    assert all(set(x) == {"cron_id", "schedule"} for x in picked)
    assert await client.crons.count() == 3
    assert await client.crons.count(assistant_id="echo", metadata={"k": 1}) == 1
    assert await client.crons.count(thread_id=tid) == 1


async def test_what_crons_cannot_do_is_refused_by_name(server: ServerThread) -> None:
    client = get_client(url=server.url)
    refused = {
        "schedule": client.crons.create("echo", schedule="every day"),
        "time zone": client.crons.create("echo", schedule="0 * * * *", timezone="Mars/Base"),
        "interrupt_before": client.crons.create("echo", schedule="0 * * * *",
                                                interrupt_before=["echo"]),
        "webhook": client.crons.create("echo", schedule="0 * * * *",
                                       webhook="https://example.com/hook"),
        "word": client.crons.create("echo", schedule="0 * * * *", input={"word": 3}),
    }  # fmt: skip
    for named, call in refused.items():
        with pytest.raises(APIStatusError, match=named) as raised:
            await call
        assert raised.value.status_code == 422
    with pytest.raises(NotFoundError):
        await client.crons.create_for_thread("9" * 8, "echo", schedule="0 * * * *")
    with pytest.raises(NotFoundError):
        await client.crons.create("no_such_assistant", schedule="0 * * * *")


async def test_crons_belong_to_their_tenant(server: ServerThread) -> None:
    ana = get_client(url=server.url, headers=as_tenant("ana"))
    bob = get_client(url=server.url, headers=as_tenant("bob"))
    mine: Any = await ana.crons.create("echo", schedule="0 * * * *")
    assert mine["user_id"] == "user-of-ana"
    assert await bob.crons.search() == [] and await bob.crons.count() == 0
    with pytest.raises(NotFoundError):
        await bob.crons.delete(mine["cron_id"])
    with pytest.raises(NotFoundError):
        await bob.crons.update(mine["cron_id"], enabled=False)
    thread = await ana.threads.create()
    with pytest.raises(NotFoundError):  # ana's thread is not bob's to schedule
        await bob.crons.create_for_thread(thread["thread_id"], "echo", schedule="0 * * * *")
    reader = get_client(url=server.url, headers=as_tenant("ana", read_only=True))
    assert len(await reader.crons.search()) == 1
    with pytest.raises(PermissionDeniedError):
        await reader.crons.create("echo", schedule="0 * * * *")
    with pytest.raises(PermissionDeniedError):
        await reader.crons.delete(mine["cron_id"])


async def test_a_thread_cron_fires_runs_on_its_thread(server: ServerThread) -> None:
    client = get_client(url=server.url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    cron: Any = await client.crons.create_for_thread(
        tid, "echo", schedule=EVERY_SECOND, input={"word": "tick"}, metadata={"from": "cron"}
    )
    runs = await eventually(lambda: _at_least(client.runs.list(tid), 2))
    assert len(runs) >= 2
    await client.crons.delete(cron["cron_id"])
    assert all(r["assistant_id"] == assistant_id_of("echo") for r in runs)
    assert all(r["metadata"]["from"] == "cron" for r in runs)
    for run in runs:
        await client.runs.join(tid, run["run_id"])
    state = await client.threads.get_state(tid)
    assert state["values"]["said"][:2] == ["tick", "tick"]


async def _at_least(call: Awaitable[list[Any]], n: int) -> list[Any] | None:
    found = await call
    return found if len(found) >= n else None


async def test_a_cron_without_a_thread_keeps_no_thread_unless_asked(
    server: ServerThread,
) -> None:
    client = get_client(url=server.url)
    scheduler = server.app.state.cron_scheduler  # type: ignore[attr-defined]
    dropped: Any = await client.crons.create("echo", schedule=EVERY_SECOND, input={})
    kept: Any = await client.crons.create("echo", schedule=EVERY_SECOND, input={},
                                          on_run_completed="keep")  # fmt: skip

    def fires(cron_id: str) -> list[str]:
        return [run for cid, _, run in scheduler.fired if cid == cron_id]

    async def both_fired() -> bool:
        return len(fires(dropped["cron_id"])) >= 2 and len(fires(kept["cron_id"])) >= 2

    assert await eventually(both_fired)
    await client.crons.delete(dropped["cron_id"])
    await client.crons.delete(kept["cron_id"])
    threads = await client.threads.search(limit=100)
    from_cron = [t for t in threads if t["metadata"].get("cron_id")]
    assert from_cron and {t["metadata"]["cron_id"] for t in from_cron} == {kept["cron_id"]}
    assert len(from_cron) >= len(fires(kept["cron_id"])) - 1  # one new thread per run


async def test_two_servers_fire_each_scheduled_time_once(settings: Settings) -> None:
    # Two servers (two engines, two connections to one SQLite file): both poll the
    # same cron every second; the conditional claim lets one of them fire each time.
    with live(settings) as one, live(settings) as two:
        client = get_client(url=one.url)
        thread = await client.threads.create()
        cron: Any = await client.crons.create_for_thread(
            thread["thread_id"], "echo", schedule=EVERY_SECOND, input={}
        )
        schedulers = [s.app.state.cron_scheduler for s in (one, two)]  # type: ignore[attr-defined]

        async def fired_times() -> list[int]:
            return [due for s in schedulers for cid, due, _ in s.fired if cid == cron["cron_id"]]

        assert len(await eventually(lambda: _enough(fired_times, 6))) >= 6
        await client.crons.delete(cron["cron_id"])
        times = await fired_times()
        assert len(times) == len(set(times))  # no scheduled time fired twice


async def _enough(read: Callable[[], Awaitable[list[int]]], n: int) -> list[int] | None:
    found = await read()
    return found if len(found) >= n else None


async def test_crons_survive_a_restart_and_go_with_their_assistant(settings: Settings) -> None:
    with live(settings) as first:
        client = get_client(url=first.url)
        assistant = await client.assistants.create("echo", name="scheduled")
        cron: Any = await client.crons.create(assistant["assistant_id"], schedule="0 3 * * *")
    with live(settings) as second:
        client = get_client(url=second.url)
        (kept,) = await client.crons.search()
        assert kept["cron_id"] == cron["cron_id"]
        assert kept["next_run_date"] == cron["next_run_date"]
        await client.assistants.delete(assistant["assistant_id"])
        assert await client.crons.search() == []
