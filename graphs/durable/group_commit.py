"""The SQLite store's one thread, committing the calls queued to it together (group commit).

Every checkpoint, run record and thread update is a call on the thread that owns the
connection, and each used to commit on its own: ten commits per threaded run of a
one-node graph, and under 50 concurrent clients that thread, not the event loop, set the
pace. `GroupCommitExecutor` takes every call waiting when it is free (at most
`max_group`), runs each in a savepoint of one transaction and commits once:

* a call that fails is rolled back to its savepoint alone; the others keep their writes;
* no caller hears back before the commit that holds its writes (durability is unchanged:
  an answered call is in the WAL), and if that commit fails every caller of the group
  gets the error;
* a call alone in the queue runs as before, with its own commit.

Calls commit through `GroupCommitConnection.commit`, which inside a group leaves the
commit to the group (and whose `rollback` undoes the call's savepoint only), so code
written for a plain connection (`SqliteSaver`'s methods) needs no change.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

__all__ = ["GroupCommitConnection", "GroupCommitExecutor"]

_SAVEPOINT = "sophia_call"

_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class GroupCommitConnection(sqlite3.Connection):
    """A connection whose `commit` and `rollback` act on the current call inside a group
    (pass as ``sqlite3.connect(..., factory=GroupCommitConnection)``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_group = False

    def commit(self) -> None:
        """Commit now, or, inside a group, leave it to the group's one commit."""
        if not self.in_group:
            super().commit()

    def rollback(self) -> None:
        """Roll back the transaction, or, inside a group, the current call's writes only."""
        if self.in_group:
            self.execute(f"ROLLBACK TO {_SAVEPOINT}")
        else:
            super().rollback()


class GroupCommitExecutor(Executor):
    """A one-thread executor for a `GroupCommitConnection`; see the module docstring.

    Calls run in arrival order. Until `attach` names the connection (open it with the
    first call, on this thread), calls run one by one.
    """

    def __init__(self, name: str = "sophia-checkpoints", max_group: int = 64) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1, got {max_group}")
        self.max_group = max_group
        self.groups = 0
        """Transactions that held more than one call (for tests and stats)."""
        self._conn: GroupCommitConnection | None = None
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def attach(self, conn: GroupCommitConnection) -> None:
        """Group the calls from now on; `conn` is the connection they use."""
        self._conn = conn

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue ``fn(*args, **kwargs)``; its future resolves after the commit of its group."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._calls.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Run what is queued, then stop the thread (joined when `wait`)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._calls.put(None)
        if wait:
            self._thread.join()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._calls.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_group:
                try:
                    call = self._calls.get_nowait()
                except queue.Empty:
                    break
                if call is None:
                    stopping = True
                    break
                batch.append(call)
            conn = self._conn
            if conn is None or len(batch) == 1:
                for call in batch:
                    _run_alone(call)
            else:
                self._run_group(conn, batch)

    def _run_group(self, conn: GroupCommitConnection, batch: list[_Call]) -> None:
        self.groups += 1
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            if conn.in_transaction:
                conn.commit()
            conn.execute("BEGIN")
            conn.in_group = True
            for future, fn, args, kwargs in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                conn.execute(f"SAVEPOINT {_SAVEPOINT}")
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # handed to its caller; the group goes on
                    conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
                    conn.execute(f"RELEASE {_SAVEPOINT}")
                    outcomes.append((future, None, exc))
                else:
                    conn.execute(f"RELEASE {_SAVEPOINT}")
                    outcomes.append((future, result, None))
            conn.in_group = False
            conn.commit()
        except BaseException as exc:  # the group's own statements or its commit failed
            conn.in_group = False
            try:
                if conn.in_transaction:
                    conn.rollback()
            except sqlite3.Error:
                pass  # e.g. the connection is closed: nothing to roll back
            for future, *_ in batch:
                if future.done():
                    continue
                if future.running() or future.set_running_or_notify_cancel():
                    future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


def _run_alone(call: _Call) -> None:
    future, fn, args, kwargs = call
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)
