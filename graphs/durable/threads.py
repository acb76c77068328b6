"""Thread records: the ``sophia_threads`` table beside the checkpoints.

A thread's row holds what a listing needs without reading a checkpoint: its graph, owner
(the tenant that created it; None when the service runs without authentication),
metadata, status (idle, busy, interrupted, error), and the values and interrupts its last
run ended with (written when a run on the thread ends), so searching threads is one query.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from graphs.durable.errors import CheckpointStoreError, ThreadExistsError
from graphs.durable.sql import Row, Sql, from_json, now_iso, to_json

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
_STATUSES = frozenset(get_args(ThreadStatus))

_CREATE = (
    "CREATE TABLE IF NOT EXISTS sophia_threads ("
    " thread_id TEXT PRIMARY KEY, graph_id TEXT, metadata TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
)
# Columns added after the first release: added in place on existing databases.
_ADDED = {
    "owner": "TEXT",
    "status": "TEXT",
    "state_values": "TEXT",
    "interrupts": "TEXT",
    "config": "TEXT",
    "error": "TEXT",
    "state_updated_at": "TEXT",
}
_COLUMNS = (
    "thread_id, graph_id, metadata, created_at, updated_at, owner, status, state_values,"
    " interrupts, config, error, state_updated_at"
)


@dataclass(frozen=True)
class ThreadRecord:
    """A thread: id, the graph its runs use (None before the first run), owner, metadata,
    status, and the values/interrupts its last run ended with."""

    thread_id: str
    graph_id: str | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    owner: str | None = None
    status: ThreadStatus = "idle"
    values: dict[str, Any] | None = None
    interrupts: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    state_updated_at: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> ThreadRecord:
        """A record from a row of `_COLUMNS`, in that order.

        A row whose stored JSON cannot be read (written by something else, or damaged)
        is the thread with status ``error`` saying so: it never fails a listing of the
        other threads.
        """
        try:
            metadata = from_json(row[2], {})
            values = from_json(row[7])
            interrupts = from_json(row[8], {})
            config = from_json(row[9], {})
        except ValueError:
            return cls(
                thread_id=row[0], graph_id=row[1], metadata={}, created_at=row[3],
                updated_at=row[4], owner=row[5], status="error",
                error="the thread's stored state cannot be read",
            )  # fmt: skip
        return cls(
            thread_id=row[0],
            graph_id=row[1],
            metadata=metadata if isinstance(metadata, dict) else {},
            created_at=row[3],
            updated_at=row[4],
            owner=row[5],
            status=row[6] if row[6] in _STATUSES else "idle",
            values=values,
            interrupts=interrupts if isinstance(interrupts, dict) else {},
            config=config if isinstance(config, dict) else {},
            error=row[10],
            state_updated_at=row[11],
        )


def _owned(owner: str | None) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause part that scopes a statement to `owner` (None: every owner)."""
    return ("", ()) if owner is None else (" AND owner = ?", (owner,))


class ThreadStore:
    """Thread records; every statement binds its values.

    `owner` on each method scopes it to one tenant: another tenant's thread is as if it
    did not exist. Which graph a known thread runs is cached in process (at most
    `cache_size` entries), so a run on a known thread costs no extra statement.
    """

    def __init__(self, sql: Sql, *, cache_size: int = 10_000) -> None:
        self.sql = sql
        self._graphs: OrderedDict[str, str | None] = OrderedDict()
        self._cache_size = cache_size

    async def setup(self) -> None:
        """Create the table (and the columns added since) if missing."""
        await self.sql.run(_CREATE)
        await self.sql.add_columns("sophia_threads", _ADDED)
        await self.sql.run(
            "CREATE INDEX IF NOT EXISTS sophia_threads_owner_updated"
            " ON sophia_threads (owner, updated_at)"
        )

    def _remember(self, thread_id: str, graph_id: str | None) -> None:
        self._graphs[thread_id] = graph_id
        self._graphs.move_to_end(thread_id)
        while len(self._graphs) > self._cache_size:
            self._graphs.popitem(last=False)

    async def exists(self, thread_id: str, *, owner: str | None = None) -> bool:
        """Whether thread `thread_id` exists (for `owner`, when given)."""
        if owner is None and thread_id in self._graphs:
            return True
        return await self.get(thread_id, owner=owner) is not None

    async def get(self, thread_id: str, *, owner: str | None = None) -> ThreadRecord | None:
        """The thread `thread_id` (of `owner`, when given), or None."""
        scope, scope_params = _owned(owner)
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_threads WHERE thread_id = ?{scope}",  # noqa: S608
            (thread_id, *scope_params),
        )
        if not rows:
            return None
        record = ThreadRecord.from_row(rows[0])
        self._remember(thread_id, record.graph_id)
        return record

    async def create(
        self,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        graph_id: str | None = None,
        owner: str | None = None,
        config: dict[str, Any] | None = None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> ThreadRecord:
        """Create a thread (a new uuid when `thread_id` is None).

        An existing id raises ThreadExistsError, or is returned unchanged with
        ``if_exists='do_nothing'`` (still ThreadExistsError if another owner has it).
        """
        tid = thread_id or str(uuid.uuid4())
        now = now_iso()
        rows = await self.sql.rows(
            "INSERT INTO sophia_threads (thread_id, graph_id, metadata, created_at, updated_at,"
            " owner, status, config) VALUES (?, ?, ?, ?, ?, ?, 'idle', ?)"
            " ON CONFLICT (thread_id) DO NOTHING RETURNING thread_id",
            (tid, graph_id, to_json(metadata or {}), now, now, owner, to_json(config or {})),
        )
        record = await self.get(tid, owner=owner)
        if record is None:  # another owner's thread, or deleted in between
            raise ThreadExistsError(tid) if not rows else CheckpointStoreError(
                f"thread {tid!r} vanished while being created"
            )
        if not rows and if_exists == "raise":
            raise ThreadExistsError(tid)
        return record

    async def attach(self, thread_id: str, graph_id: str, *, owner: str | None = None) -> None:
        """Record that runs of `thread_id` use `graph_id` (creating the thread if new)."""
        if self._graphs.get(thread_id) == graph_id:
            return
        now = now_iso()
        await self.sql.run(
            "INSERT INTO sophia_threads (thread_id, graph_id, metadata, created_at, updated_at,"
            " owner, status) VALUES (?, ?, '{}', ?, ?, ?, 'idle')"
            " ON CONFLICT (thread_id) DO UPDATE SET graph_id = excluded.graph_id,"
            " updated_at = excluded.updated_at",
            (thread_id, graph_id, now, now, owner),
        )
        self._remember(thread_id, graph_id)

    async def set_status(
        self,
        thread_id: str,
        status: ThreadStatus,
        *,
        values: dict[str, Any] | None = None,
        interrupts: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the thread's status; with `values`, the state its last run ended with."""
        now = now_iso()
        if values is None:
            await self.sql.run(
                "UPDATE sophia_threads SET status = ?, error = ?, updated_at = ?"
                " WHERE thread_id = ?",
                (status, error, now, thread_id),
            )
            return
        await self.sql.run(
            "UPDATE sophia_threads SET status = ?, error = ?, updated_at = ?, state_values = ?,"
            " interrupts = ?, state_updated_at = ? WHERE thread_id = ?",
            (status, error, now, to_json(values), to_json(interrupts or {}), now, thread_id),
        )

    async def search(
        self,
        limit: int = 10,
        offset: int = 0,
        *,
        owner: str | None = None,
        ids: Sequence[str] | None = None,
        status: ThreadStatus | None = None,
        graphs: Collection[str] | None = None,
    ) -> list[ThreadRecord]:
        """Threads (of `owner`, when given; of `graphs` or not run yet, when given), most
        recently updated first, in one query."""
        where, params = ["1 = 1"], []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if graphs is not None:
            names = sorted(graphs)
            marks = ", ".join("?" * len(names))
            where.append(f"(graph_id IS NULL OR graph_id IN ({marks}))" if names
                         else "graph_id IS NULL")  # fmt: skip
            params.extend(names)
        if ids is not None:
            if not ids:
                return []
            where.append(f"thread_id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_threads WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY updated_at DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [ThreadRecord.from_row(r) for r in rows]
