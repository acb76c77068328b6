"""Thread and run records beside the checkpoints, on SQLite and on Postgres."""

from __future__ import annotations

import sqlite3

import pytest

from graphs.durable.errors import ThreadExistsError
from graphs.durable.store import open_durable, sqlite_path
from graphs.engine.run_record import RunRecord
from stores.settings import Settings


async def test_threads_are_scoped_by_owner_and_listed_in_one_query(
    durable_settings: Settings,
) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        threads = durable.threads
        mine = await threads.create("t-mine", {"team": "emea"}, owner="alice")
        await threads.create("t-theirs", owner="bob")
        await threads.create("t-open")
        assert (mine.owner, mine.status, mine.metadata) == ("alice", "idle", {"team": "emea"})
        assert await threads.get("t-theirs", owner="alice") is None  # another tenant's: absent
        assert await threads.exists("t-theirs", owner="alice") is False
        assert (await threads.get("t-theirs")) is not None  # unscoped (no auth): visible
        assert [t.thread_id for t in await threads.search(owner="alice")] == ["t-mine"]
        with pytest.raises(ThreadExistsError):
            await threads.create("t-theirs", owner="alice", if_exists="do_nothing")
        with pytest.raises(ThreadExistsError):
            await threads.create("t-mine", owner="alice")
        again = await threads.create("t-mine", owner="alice", if_exists="do_nothing")
        assert again.created_at == mine.created_at

        await threads.attach("t-mine", "deal_review", owner="alice")
        await threads.set_status(
            "t-mine", "interrupted", values={"deal_ids": ["D-1"]}, interrupts={"task": [1]}
        )
        (listed,) = await threads.search(owner="alice", status="interrupted")
        assert listed.graph_id == "deal_review"
        assert listed.values == {"deal_ids": ["D-1"]} and listed.interrupts == {"task": [1]}
        assert listed.state_updated_at is not None
        assert await threads.search(owner="alice", status="idle") == []
        assert {t.thread_id for t in await threads.search(ids=["t-open", "nope"])} == {"t-open"}
        assert await threads.search(ids=[]) == []


async def test_runs_are_records_any_process_can_read(durable_settings: Settings) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        runs = durable.runs
        first = RunRecord(run_id="r1", graph="deal_review", thread_id="t1", metadata={"a": 1})
        later = first.created_at + 1
        second = RunRecord(run_id="r2", graph="deal_review", thread_id="t1", created_at=later)
        other = RunRecord(run_id="r3", graph="memory_recall")
        await runs.put(first, owner="alice")
        await runs.put(second, owner="alice")
        await runs.put(other, owner="bob")
        got = await runs.get("r1", owner="alice")
        assert got is not None and got.metadata == {"a": 1} and got.status == "pending"
        assert await runs.get("r1", owner="bob") is None
        first.finish("partial", duration_ms=12.5, failed=["slack"], error=None)
        await runs.put(first, owner="alice")
        done = await runs.get("r1")
        assert done is not None
        assert (done.status, done.failed_sources) == ("partial", ("slack",))
        assert [r.run_id for r in await runs.list(thread_id="t1")] == ["r2", "r1"]
        assert [r.run_id for r in await runs.list(status="pending", owner="alice")] == ["r2"]
        assert [r.run_id for r in await runs.list(status=["partial", "pending"], limit=1)]
        assert await runs.delete("r3", owner="alice") is False
        assert await runs.delete("r3", owner="bob") is True
        assert await runs.get("r3") is None


async def test_an_existing_thread_table_gains_the_new_columns(settings: Settings) -> None:
    """Databases made by the first release (five columns) keep their threads."""
    s = settings.with_absolute_paths()
    path = sqlite_path(s)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE sophia_threads (thread_id TEXT PRIMARY KEY, graph_id TEXT,"
            " metadata TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO sophia_threads VALUES ('old', 'deal_review', '{\"k\": 1}', 'x', 'y')"
        )
    async with open_durable(s) as durable:
        await durable.ensure_ready()
        old = await durable.threads.get("old")
        assert old is not None and old.metadata == {"k": 1} and old.status == "idle"
        assert old.owner is None and old.values is None
