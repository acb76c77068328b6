"""Crons: scheduled runs, in the ``sophia_crons`` table beside the threads.

A cron row holds its schedule (a cron expression, in `timezone`), what to run
(``payload``: the run's assistant, input, config, ...), its thread (None: a new run
without a thread each time), its owner, and ``next_run_at``: the epoch second of its next
fire. The scheduler (`graphs.server.langgraph_api.cron_scheduler`) reads the due crons
and *claims* each fire with one conditional statement::

    UPDATE sophia_crons SET next_run_at = <next> WHERE cron_id = ? AND next_run_at = <due>

Only the process whose statement changed the row fires it, so any number of servers
sharing the database fire each scheduled time once; a server that was down fires a
missed schedule once when it comes back (as LangGraph's server does), then keeps time.

Every method takes ``owner`` as the other control tables do: None sees every cron, a
tenant only its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from graphs.durable.sql import Row, Sql, from_json, now_iso, to_json, where

OnRunCompleted = Literal["delete", "keep"]

_CREATE = (
    "CREATE TABLE IF NOT EXISTS sophia_crons ("
    " cron_id TEXT PRIMARY KEY, assistant_id TEXT NOT NULL, thread_id TEXT,"
    " schedule TEXT NOT NULL, timezone TEXT, end_time TEXT, enabled INTEGER NOT NULL,"
    " on_run_completed TEXT, payload TEXT NOT NULL, metadata TEXT NOT NULL, user_id TEXT,"
    " next_run_at BIGINT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, owner TEXT)"
)
_JSON = ("payload", "metadata")


@dataclass(frozen=True)
class CronRecord:
    """One cron: schedule, what it runs, its thread and owner, when it fires next."""

    cron_id: str
    assistant_id: str
    thread_id: str | None
    schedule: str
    timezone: str | None
    end_time: str | None
    enabled: bool
    on_run_completed: OnRunCompleted | None
    payload: dict[str, Any]
    metadata: dict[str, Any]
    user_id: str | None
    next_run_at: int | None
    """Epoch second of the next fire (None: the schedule has no further time)."""
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    owner: str | None = None

    def row(self) -> tuple[Any, ...]:
        """The record as a row of `_COLUMNS`."""
        return tuple(
            to_json(getattr(self, n)) if n in _JSON else
            int(self.enabled) if n == "enabled" else getattr(self, n)
            for n in _NAMES
        )  # fmt: skip

    @classmethod
    def from_row(cls, row: Row) -> CronRecord:
        """A record from a row of `_COLUMNS`."""
        values = dict(zip(_NAMES, row, strict=True))
        for name in _JSON:
            values[name] = from_json(values[name], {})
        values["enabled"] = bool(values["enabled"])
        if values["next_run_at"] is not None:
            values["next_run_at"] = int(values["next_run_at"])
        return cls(**values)


_NAMES = [f.name for f in fields(CronRecord)]
_COLUMNS = ", ".join(_NAMES)
_UPDATABLE = frozenset(_NAMES) - {"cron_id", "created_at", "owner", "assistant_id", "thread_id"}


def _owned(owner: str | None) -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if owner is None else (" AND owner = ?", (owner,))


class CronStore:
    """Cron records; every statement binds its values."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def setup(self) -> None:
        """Create the table and its indexes if missing."""
        await self.sql.run(_CREATE)
        await self.sql.run(
            "CREATE INDEX IF NOT EXISTS sophia_crons_due ON sophia_crons (enabled, next_run_at)"
        )
        await self.sql.run(
            "CREATE INDEX IF NOT EXISTS sophia_crons_owner ON sophia_crons (owner, created_at)"
        )

    async def create(self, record: CronRecord) -> CronRecord:
        """Insert `record` (its id is new: a uuid made by the caller)."""
        marks = ", ".join("?" * len(_NAMES))
        await self.sql.run(
            f"INSERT INTO sophia_crons ({_COLUMNS}) VALUES ({marks})",  # noqa: S608
            record.row(),
        )
        return record

    async def get(self, cron_id: str, *, owner: str | None = None) -> CronRecord | None:
        """The cron `cron_id` (of `owner`, when given), or None."""
        scope, params = _owned(owner)
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_crons WHERE cron_id = ?{scope}",  # noqa: S608
            (cron_id, *params),
        )
        return CronRecord.from_row(rows[0]) if rows else None

    async def update(
        self, cron_id: str, changes: dict[str, Any], *, owner: str | None = None
    ) -> CronRecord | None:
        """Set the given columns (schedule, enabled, payload, next_run_at, ...); the
        updated cron, or None when it does not exist (for `owner`)."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values = {**changes, "updated_at": now_iso()}
        sets = ", ".join(f"{name} = ?" for name in values)
        params = [
            to_json(v) if n in _JSON else int(v) if n == "enabled" else v
            for n, v in values.items()
        ]
        scope, scope_params = _owned(owner)
        rows = await self.sql.rows(
            f"UPDATE sophia_crons SET {sets} WHERE cron_id = ?{scope} RETURNING {_COLUMNS}",  # noqa: S608
            (*params, cron_id, *scope_params),
        )
        return CronRecord.from_row(rows[0]) if rows else None

    async def delete(self, cron_id: str, *, owner: str | None = None) -> bool:
        """Delete the cron; whether it existed (for `owner`)."""
        scope, params = _owned(owner)
        rows = await self.sql.rows(
            f"DELETE FROM sophia_crons WHERE cron_id = ?{scope} RETURNING cron_id",  # noqa: S608
            (cron_id, *params),
        )
        return bool(rows)

    async def delete_for_assistant(self, assistant_id: str, *, owner: str | None = None) -> int:
        """Delete the crons of an assistant (it was deleted); how many."""
        scope, params = _owned(owner)
        rows = await self.sql.rows(
            f"DELETE FROM sophia_crons WHERE assistant_id = ?{scope} RETURNING cron_id",  # noqa: S608
            (assistant_id, *params),
        )
        return len(rows)

    async def search(
        self,
        *,
        owner: str | None = None,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        enabled: bool | None = None,
    ) -> list[CronRecord]:
        """Crons matching every filter given, newest first. The API filters metadata,
        sorts and pages in process."""
        clause, params = where(owner=owner, assistant_id=assistant_id, thread_id=thread_id,
                               enabled=None if enabled is None else int(enabled))  # fmt: skip
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_crons WHERE {clause}"  # noqa: S608
            " ORDER BY created_at DESC",
            params,
        )
        return [CronRecord.from_row(r) for r in rows]

    async def due(self, now: int, limit: int = 100) -> list[CronRecord]:
        """Enabled crons of every owner whose next fire is at or before `now` (epoch s),
        earliest first."""
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_crons WHERE enabled = 1"  # noqa: S608
            " AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
            (now, limit),
        )
        return [CronRecord.from_row(r) for r in rows]

    async def claim(self, cron_id: str, due_at: int, next_at: int | None) -> bool:
        """Move the cron's next fire from `due_at` to `next_at`; True only for the one
        caller whose statement made the change (that caller fires `due_at`)."""
        rows = await self.sql.rows(
            "UPDATE sophia_crons SET next_run_at = ?, updated_at = ?"
            " WHERE cron_id = ? AND next_run_at = ? RETURNING cron_id",
            (next_at, now_iso(), cron_id, due_at),
        )
        return bool(rows)
