"""Run records: the ``sophia_runs`` table beside the threads and checkpoints.

Every run started through the service is a row here from the moment it is accepted
(``pending``) to its final status, so any process that shares the database can answer
for it, and a restart loses no record. Rows hold `graphs.engine.run_record.RunRecord`s.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from graphs.durable.sql import Row, Sql, from_json, to_json
from graphs.engine.run_record import RunRecord, RunStatus

_CREATE = (
    "CREATE TABLE IF NOT EXISTS sophia_runs ("
    " run_id TEXT PRIMARY KEY, graph TEXT NOT NULL, status TEXT NOT NULL, thread_id TEXT,"
    " assistant_id TEXT, trace_id TEXT, metadata TEXT NOT NULL, multitask_strategy TEXT,"
    " kwargs TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"  # epoch seconds: float8
    " updated_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION,"
    " duration_ms DOUBLE PRECISION, failed_sources TEXT NOT NULL, error TEXT, owner TEXT)"
)
_FIELDS = [f.name for f in fields(RunRecord)]
_COLUMNS = ", ".join([*_FIELDS, "owner"])
_JSON = {"metadata", "kwargs", "failed_sources"}
RESUME_FLAG = "resume_on_start"
"""The kwargs key marking a run the next start of the service resumes."""


def _row_of(record: RunRecord, owner: str | None) -> tuple[Any, ...]:
    values = []
    for name in _FIELDS:
        value = getattr(record, name)
        values.append(to_json(list(value) if name == "failed_sources" else value)
                      if name in _JSON else value)  # fmt: skip
    return (*values, owner)


def _record_of(row: Row) -> tuple[RunRecord, str | None]:
    kwargs: dict[str, Any] = {}
    for name, value in zip(_FIELDS, row, strict=False):
        if name in _JSON:
            value = from_json(value, [] if name == "failed_sources" else {})
            if name == "failed_sources":
                value = tuple(value)
        kwargs[name] = value
    return RunRecord(**kwargs), row[len(_FIELDS)]


class RunStore:
    """Run records, scoped by owner like threads (another tenant's run does not exist)."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def setup(self) -> None:
        """Create the table and its indexes if missing."""
        await self.sql.run(_CREATE)
        await self.sql.run(
            "CREATE INDEX IF NOT EXISTS sophia_runs_thread ON sophia_runs (thread_id, created_at)"
        )
        await self.sql.run("CREATE INDEX IF NOT EXISTS sophia_runs_status ON sophia_runs (status)")

    async def put(self, record: RunRecord, *, owner: str | None = None) -> None:
        """Insert or replace the whole record."""
        marks = ", ".join("?" * (len(_FIELDS) + 1))
        updates = ", ".join(f"{n} = excluded.{n}" for n in _FIELDS if n != "run_id")
        await self.sql.run(
            f"INSERT INTO sophia_runs ({_COLUMNS}) VALUES ({marks})"  # noqa: S608
            f" ON CONFLICT (run_id) DO UPDATE SET {updates}",
            _row_of(record, owner),
        )

    async def get(self, run_id: str, *, owner: str | None = None) -> RunRecord | None:
        """The run `run_id` (of `owner`, when given), or None."""
        found = await self._find(run_id, owner)
        return found[0] if found is not None else None

    async def get_owned(self, run_id: str) -> tuple[RunRecord, str | None] | None:
        """The run `run_id` with its owner (any tenant's: for the process executing it)."""
        return await self._find(run_id, None)

    async def _find(self, run_id: str, owner: str | None) -> tuple[RunRecord, str | None] | None:
        scope, params = ("", ()) if owner is None else (" AND owner = ?", (owner,))
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_runs WHERE run_id = ?{scope}",  # noqa: S608 (column names; values bound)
            (run_id, *params),
        )
        return _record_of(rows[0]) if rows else None

    async def waiting(self) -> tuple[int, float | None]:
        """Runs accepted and not started yet (``pending``), and the oldest one's
        ``created_at`` (epoch seconds; None when there is none)."""
        rows = await self.sql.rows(
            "SELECT count(*), min(created_at) FROM sophia_runs WHERE status = 'pending'"
        )
        count, oldest = rows[0] if rows else (0, None)
        return int(count or 0), (float(oldest) if oldest is not None else None)

    async def list(
        self,
        *,
        thread_id: str | None = None,
        status: RunStatus | Sequence[RunStatus] | None = None,
        owner: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs matching every filter given, newest first, in one query."""
        where, params = ["1 = 1"], []
        if thread_id is not None:
            where.append("thread_id = ?")
            params.append(thread_id)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_runs WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_record_of(r)[0] for r in rows]

    async def resumable(self, limit: int = 1000) -> builtins.list[tuple[RunRecord, str | None]]:
        """Runs a shutdown left to be resumed (``pending``, marked ``resume_on_start`` in
        their kwargs), oldest first, each with its owner."""
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_runs WHERE status = 'pending'"  # noqa: S608
            " ORDER BY created_at LIMIT ?",
            (limit,),
        )
        found = [_record_of(r) for r in rows]
        return [(record, owner) for record, owner in found if record.kwargs.get(RESUME_FLAG)]

    async def claim(self, run_id: str) -> bool:
        """Take a pending run for this process (it becomes ``running``); False when another
        process took it first."""
        rows = await self.sql.rows(
            "UPDATE sophia_runs SET status = 'running', updated_at = ?"
            " WHERE run_id = ? AND status = 'pending' RETURNING run_id",
            (time.time(), run_id),
        )
        return bool(rows)

    async def abandon(self, before: float, error: str) -> builtins.list[str]:
        """Mark ``failed`` (with `error`) every run still ``pending`` or ``running`` that was
        last updated before `before` (epoch seconds): runs of a process that died. Their
        thread ids (None for thread-less runs)."""
        now = time.time()
        rows = await self.sql.rows(
            "UPDATE sophia_runs SET status = 'failed', error = ?, updated_at = ?,"
            " finished_at = ? WHERE status IN ('pending', 'running') AND updated_at < ?"
            " RETURNING thread_id",
            (error, now, now, before),
        )
        return [r[0] for r in rows]

    async def delete(self, run_id: str, *, owner: str | None = None) -> bool:
        """Delete the run's record; whether it existed (for `owner`, when given)."""
        scope, params = ("", ()) if owner is None else (" AND owner = ?", (owner,))
        rows = await self.sql.rows(
            f"DELETE FROM sophia_runs WHERE run_id = ?{scope} RETURNING run_id",  # noqa: S608
            (run_id, *params),
        )
        return bool(rows)
