"""Thread records: the ``sophia_threads`` table beside the checkpoints.

A thread's row holds what a listing needs without reading a checkpoint: its graph, owner
(the tenant that created it; None when the service runs without authentication),
metadata, status (idle, busy, interrupted, error), and the values and interrupts its last
run ended with (written when a run on the thread ends), so searching threads is one query,
its filters included (`graphs.durable.thread_filters`: metadata and values by JSON
containment). Metadata and config are merged by compare-and-swap (no lost update), and a
delete takes the thread's run and cron records with it in one transaction.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from graphs.durable.errors import CheckpointStoreError, ThreadExistsError
from graphs.durable.sql import Row, Sql, from_json, now_iso, to_json
from graphs.durable.thread_filters import ThreadFilter, order_by

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
_SWAP_TRIES = 5
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
        metadata: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[ThreadRecord]:
        """Threads matching the filters (`graphs.durable.thread_filters.ThreadFilter`),
        most recently updated first unless `sort_by`/`sort_order` say otherwise, in one
        query."""
        found = ThreadFilter(owner, graphs, ids, status, metadata, values).where(self.sql)
        if found is None:
            return []
        clause, params = found
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_threads WHERE {clause}"  # noqa: S608
            f"{order_by(sort_by, sort_order)} LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [ThreadRecord.from_row(r) for r in rows]

    async def count(self, where: ThreadFilter) -> int:
        """How many threads `where` matches (one query)."""
        found = where.where(self.sql)
        if found is None:
            return 0
        clause, params = found
        rows = await self.sql.rows(
            f"SELECT COUNT(*) FROM sophia_threads WHERE {clause}", params  # noqa: S608
        )
        return int(rows[0][0])

    # -- changing a thread's row ---------------------------------------------------------
    async def _swap(
        self,
        thread_id: str,
        owner: str | None,
        change: Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]],
        extra: tuple[str, tuple[Any, ...]] = ("", ()),
    ) -> bool:
        """Replace the thread's metadata and config with ``change(metadata, config)``,
        only if neither changed since they were read (retried a few times); `extra` sets
        more columns in the same statement. False when there is no such thread."""
        scope, scope_params = _owned(owner)
        for _ in range(_SWAP_TRIES):
            rows = await self.sql.rows(
                "SELECT metadata, COALESCE(config, '') FROM sophia_threads"  # noqa: S608
                f" WHERE thread_id = ?{scope}",
                (thread_id, *scope_params),
            )
            if not rows:
                return False
            old_metadata, old_config = rows[0]
            metadata, config = change(_object(old_metadata), _object(old_config or None))
            sets, set_params = extra
            changed = await self.sql.rows(
                f"UPDATE sophia_threads SET metadata = ?, config = ?, updated_at = ?{sets}"  # noqa: S608
                " WHERE thread_id = ? AND metadata = ? AND COALESCE(config, '') = ?"
                " RETURNING thread_id",
                (to_json(metadata), to_json(config), now_iso(), *set_params, thread_id,
                 old_metadata, old_config),
            )  # fmt: skip
            if changed:
                return True
        raise CheckpointStoreError(f"thread {thread_id!r} kept changing while being updated")

    async def update_metadata(
        self,
        thread_id: str,
        metadata: Mapping[str, Any],
        *,
        owner: str | None = None,
        graph_id: str | None = None,
    ) -> ThreadRecord | None:
        """Merge `metadata` into the thread's (its keys win, as LangGraph's PATCH), and set
        its graph to `graph_id` when given; the thread as it is now, or None when `owner`
        has no such thread."""
        extra = ("", ()) if graph_id is None else (", graph_id = ?", (graph_id,))
        if not await self._swap(
            thread_id, owner, lambda old, config: ({**old, **metadata}, config), extra
        ):
            return None
        if graph_id is not None:
            self._remember(thread_id, graph_id)
        return await self.get(thread_id, owner=owner)

    async def run_started(
        self, thread_id: str, *, graph_id: str, assistant_id: str, config: Mapping[str, Any]
    ) -> None:
        """Record that a run of `graph_id` with `assistant_id` started on the thread: status
        ``busy``, ``graph_id`` and ``assistant_id`` in its metadata (as LangGraph's server
        keeps them), the run's config merged into the thread's (``configurable`` key by
        key)."""

        def change(
            metadata: dict[str, Any], old: dict[str, Any]
        ) -> tuple[dict[str, Any], dict[str, Any]]:
            merged = {**old, **config}
            configurable = {**(old.get("configurable") or {}), **(config.get("configurable") or {})}
            if configurable:
                merged["configurable"] = configurable
            return {**metadata, "graph_id": graph_id, "assistant_id": assistant_id}, merged

        if await self._swap(thread_id, None, change,
                            (", status = 'busy', graph_id = ?", (graph_id,))):  # fmt: skip
            self._remember(thread_id, graph_id)

    async def copy(self, source: ThreadRecord, *, owner: str | None) -> ThreadRecord:
        """A new thread (new id, owned by `owner`) with `source`'s graph, metadata, config
        and last values; its checkpoints are the caller's to copy."""
        tid, now = str(uuid.uuid4()), now_iso()
        status = "idle" if source.status == "busy" else source.status
        await self.sql.run(
            f"INSERT INTO sophia_threads ({_COLUMNS})"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tid, source.graph_id, to_json(source.metadata), now, now, owner, status,
             None if source.values is None else to_json(source.values),
             to_json(source.interrupts), to_json(source.config), source.error,
             source.state_updated_at),
        )  # fmt: skip
        record = await self.get(tid, owner=owner)
        if record is None:
            raise CheckpointStoreError(f"thread {tid!r} vanished while being copied")
        return record

    async def delete(self, thread_ids: Sequence[str]) -> list[str]:
        """Delete the threads' rows and their run and cron records, in one transaction;
        the ids that existed. Their checkpoints are the caller's to delete (first)."""
        if not thread_ids:
            return []
        ids = list(dict.fromkeys(thread_ids))
        marks = ", ".join("?" * len(ids))
        results = await self.sql.transaction([
            (f"DELETE FROM sophia_runs WHERE thread_id IN ({marks})", ids),  # noqa: S608
            (f"DELETE FROM sophia_crons WHERE thread_id IN ({marks})", ids),  # noqa: S608
            (f"DELETE FROM sophia_threads WHERE thread_id IN ({marks})"  # noqa: S608
             " RETURNING thread_id", ids),
        ])  # fmt: skip
        for thread_id in ids:
            self._graphs.pop(thread_id, None)
        return [row[0] for row in results[-1]]


def _object(text: Any) -> dict[str, Any]:
    """A JSON column holding an object, as a dict ({} for NULL or anything else)."""
    try:
        value = from_json(text, {})
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
