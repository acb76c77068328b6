"""GroupCommitExecutor: queued calls commit together; a failing call loses only its writes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphs.durable.group_commit import GroupCommitConnection, GroupCommitExecutor


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[GroupCommitExecutor, GroupCommitConnection, Path]]:
    path = tmp_path / "g.sqlite"
    executor = GroupCommitExecutor(name="test-group-commit")

    def connect() -> GroupCommitConnection:
        conn = sqlite3.connect(path, check_same_thread=False, factory=GroupCommitConnection)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        conn.commit()
        return conn

    conn = executor.submit(connect).result()
    executor.attach(conn)
    yield executor, conn, path
    executor.shutdown()
    conn.close()


def insert(conn: GroupCommitConnection, key: str) -> str:
    conn.execute("INSERT INTO t VALUES (?, 1)", (key,))
    conn.commit()
    return key


def committed(path: Path) -> set[str]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return {k for (k,) in other.execute("SELECT k FROM t")}


def test_queued_calls_commit_as_one_group_before_their_callers_hear(db) -> None:  # type: ignore[no-untyped-def]
    executor, conn, path = db
    release = threading.Event()
    blocker = executor.submit(release.wait, 30)
    futures = [executor.submit(insert, conn, f"k{i}") for i in range(20)]
    seen_at_answer: list[set[str]] = []
    futures[0].add_done_callback(lambda _f: seen_at_answer.append(committed(path)))
    release.set()
    assert blocker.result(30) is True
    assert [f.result(30) for f in futures] == [f"k{i}" for i in range(20)]
    assert executor.groups == 1
    # The first caller heard back only once the whole group was committed.
    assert seen_at_answer == [{f"k{i}" for i in range(20)}]


def test_a_failing_call_loses_only_its_own_writes(db) -> None:  # type: ignore[no-untyped-def]
    executor, conn, path = db

    def insert_then_fail(key: str) -> None:
        conn.execute("INSERT INTO t VALUES (?, 1)", (key,))
        raise ValueError("boom")

    def insert_then_roll_back(key: str) -> str:
        conn.execute("INSERT INTO t VALUES (?, 1)", (key,))
        conn.rollback()  # what a multi-statement call does on its own error
        return "rolled back"

    release = threading.Event()
    executor.submit(release.wait, 30)
    before = executor.submit(insert, conn, "before")
    failing = executor.submit(insert_then_fail, "failed")
    undone = executor.submit(insert_then_roll_back, "undone")
    duplicate = executor.submit(insert, conn, "before")  # primary key taken: IntegrityError
    after = executor.submit(insert, conn, "after")
    release.set()
    assert before.result(30) == "before" and after.result(30) == "after"
    with pytest.raises(ValueError, match="boom"):
        failing.result(30)
    with pytest.raises(sqlite3.IntegrityError):
        duplicate.result(30)
    assert undone.result(30) == "rolled back"
    assert committed(path) == {"before", "after"}
    assert executor.groups == 1


def test_a_call_alone_commits_on_its_own(db) -> None:  # type: ignore[no-untyped-def]
    executor, conn, path = db
    assert executor.submit(insert, conn, "solo").result(30) == "solo"
    assert committed(path) == {"solo"} and executor.groups == 0


def test_shutdown_runs_what_is_queued_then_refuses_new_calls(db) -> None:  # type: ignore[no-untyped-def]
    executor, conn, path = db
    release = threading.Event()
    executor.submit(release.wait, 30)
    queued = [executor.submit(insert, conn, f"q{i}") for i in range(3)]
    release.set()
    executor.shutdown()
    assert [f.result(0) for f in queued] == ["q0", "q1", "q2"]
    assert committed(path) == {"q0", "q1", "q2"}
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(insert, conn, "late")
