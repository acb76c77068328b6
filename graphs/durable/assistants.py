"""Assistants: saved configurations of a graph, with versions, beside the threads.

``sophia_assistants`` holds each assistant as it is now (its current version's graph,
name, description, config, context and metadata); ``sophia_assistant_versions`` holds
every version ever made (immutable rows). Creating writes both, an update writes a new
version and makes it current, `set_latest` makes an older version current again, and a
delete removes the assistant with its versions; each of those is one transaction, so a
crash never leaves an assistant without its version or a version of a deleted one.

Every method takes ``owner``: None sees every assistant (a service without
authentication), a tenant sees only its own (another tenant's is as if it did not
exist). The system assistants of registered graphs are not rows: the LangGraph API
layer makes them from the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from graphs.durable.errors import AssistantExistsError
from graphs.durable.sql import Row, Sql, from_json, now_iso, to_json, where

_CREATE = (
    "CREATE TABLE IF NOT EXISTS sophia_assistants ("
    " assistant_id TEXT PRIMARY KEY, graph_id TEXT NOT NULL, name TEXT NOT NULL,"
    " description TEXT, config TEXT NOT NULL, context TEXT NOT NULL, metadata TEXT NOT NULL,"
    " version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, owner TEXT)"
)
_CREATE_VERSIONS = (
    "CREATE TABLE IF NOT EXISTS sophia_assistant_versions ("
    " assistant_id TEXT NOT NULL, version INTEGER NOT NULL, graph_id TEXT NOT NULL,"
    " name TEXT NOT NULL, description TEXT, config TEXT NOT NULL, context TEXT NOT NULL,"
    " metadata TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (assistant_id, version))"
)
_COLUMNS = (
    "assistant_id, graph_id, name, description, config, context, metadata, version,"
    " created_at, updated_at, owner"
)
_CONTENT = "graph_id = ?, name = ?, description = ?, config = ?, context = ?, metadata = ?"
_VERSION_COLUMNS = (
    "assistant_id, version, graph_id, name, description, config, context, metadata, created_at"
)

_SELECT_VERSIONS = (
    f"SELECT {', '.join('v.' + c for c in _VERSION_COLUMNS.split(', '))}"  # noqa: S608
    " FROM sophia_assistant_versions v JOIN sophia_assistants a"
    " ON a.assistant_id = v.assistant_id"
)


@dataclass(frozen=True)
class AssistantRecord:
    """An assistant (or one of its versions: then `updated_at` is its `created_at`)."""

    assistant_id: str
    graph_id: str
    name: str
    description: str | None
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    version: int
    created_at: str
    updated_at: str
    owner: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> AssistantRecord:
        """A record from a row of `_COLUMNS`, in that order."""
        return cls(row[0], row[1], row[2], row[3], from_json(row[4], {}), from_json(row[5], {}),
                   from_json(row[6], {}), int(row[7]), row[8], row[9], row[10])  # fmt: skip

    @classmethod
    def from_version_row(cls, row: Row) -> AssistantRecord:
        """A version from a row of `_VERSION_COLUMNS`, in that order."""
        return cls(row[0], row[2], row[3], row[4], from_json(row[5], {}), from_json(row[6], {}),
                   from_json(row[7], {}), int(row[1]), row[8], row[8])  # fmt: skip


@dataclass(frozen=True)
class AssistantContent:
    """What a version of an assistant says: the graph it runs and how."""

    graph_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def params(self) -> tuple[Any, ...]:
        """The values of `_CONTENT`, in order."""
        return (self.graph_id, self.name, self.description, to_json(self.config),
                to_json(self.context), to_json(self.metadata))  # fmt: skip


def _owned(owner: str | None, column: str = "owner") -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if owner is None else (f" AND {column} = ?", (owner,))


class AssistantStore:
    """Assistants and their versions; every statement binds its values."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def setup(self) -> None:
        """Create the tables if missing."""
        await self.sql.run(_CREATE)
        await self.sql.run(_CREATE_VERSIONS)
        await self.sql.run(
            "CREATE INDEX IF NOT EXISTS sophia_assistants_owner_graph"
            " ON sophia_assistants (owner, graph_id)"
        )

    async def get(self, assistant_id: str, *, owner: str | None = None) -> AssistantRecord | None:
        """The assistant `assistant_id` (of `owner`, when given), or None."""
        scope, params = _owned(owner)
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_assistants WHERE assistant_id = ?{scope}",  # noqa: S608
            (assistant_id, *params),
        )
        return AssistantRecord.from_row(rows[0]) if rows else None

    async def create(
        self,
        assistant_id: str,
        content: AssistantContent,
        *,
        owner: str | None = None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> AssistantRecord:
        """Create the assistant at version 1; an existing id raises AssistantExistsError,
        or (``if_exists='do_nothing'``) answers the existing assistant, unless another
        owner has it (AssistantExistsError then too)."""
        now = now_iso()
        inserted, _ = await self.sql.transaction([
            (f"INSERT INTO sophia_assistants ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"  # noqa: S608
             " ON CONFLICT (assistant_id) DO NOTHING RETURNING assistant_id",
             (assistant_id, *content.params(), now, now, owner)),
            (f"INSERT INTO sophia_assistant_versions ({_VERSION_COLUMNS})"  # noqa: S608
             " VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (assistant_id, version) DO NOTHING",
             (assistant_id, *content.params(), now)),
        ])  # fmt: skip
        record = await self.get(assistant_id, owner=owner)
        if record is None or (not inserted and if_exists == "raise"):
            raise AssistantExistsError(assistant_id)
        return record

    async def update(
        self, assistant_id: str, content: AssistantContent, *, owner: str | None = None
    ) -> AssistantRecord | None:
        """Write `content` as a new version (the highest so far + 1) and make it current;
        the updated assistant, or None when it does not exist (for `owner`)."""
        scope, scope_params = _owned(owner)
        now = now_iso()
        *_, updated = await self.sql.transaction([
            # Lock the row first: a concurrent update waits, then numbers after this one.
            (f"UPDATE sophia_assistants SET updated_at = ? WHERE assistant_id = ?{scope}",  # noqa: S608
             (now, assistant_id, *scope_params)),
            (f"INSERT INTO sophia_assistant_versions ({_VERSION_COLUMNS})"  # noqa: S608
             " SELECT ?, n.v, ?, ?, ?, ?, ?, ?, ? FROM (SELECT COALESCE(MAX(version), 0) + 1 AS v"
             " FROM sophia_assistant_versions WHERE assistant_id = ?) n WHERE EXISTS (SELECT 1"
             f" FROM sophia_assistants WHERE assistant_id = ?{scope})",
             (assistant_id, *content.params(), now, assistant_id, assistant_id, *scope_params)),
            (f"UPDATE sophia_assistants SET {_CONTENT}, updated_at = ?, version = (SELECT"  # noqa: S608
             " MAX(version) FROM sophia_assistant_versions WHERE assistant_id = ?)"
             f" WHERE assistant_id = ?{scope} RETURNING {_COLUMNS}",
             (*content.params(), now, assistant_id, assistant_id, *scope_params)),
        ])  # fmt: skip
        return AssistantRecord.from_row(updated[0]) if updated else None

    async def set_latest(
        self, assistant_id: str, version: int, *, owner: str | None = None
    ) -> AssistantRecord | None:
        """Make `version` current again (its graph, name, description, config, context and
        metadata); None when the assistant or the version does not exist (for `owner`)."""
        chosen = await self.version(assistant_id, version, owner=owner)
        if chosen is None:
            return None
        scope, scope_params = _owned(owner)
        content = AssistantContent(chosen.graph_id, chosen.name, chosen.description,
                                   chosen.config, chosen.context, chosen.metadata)  # fmt: skip
        rows = await self.sql.rows(
            f"UPDATE sophia_assistants SET {_CONTENT}, version = ?, updated_at = ?"  # noqa: S608
            f" WHERE assistant_id = ?{scope} RETURNING {_COLUMNS}",
            (*content.params(), version, now_iso(), assistant_id, *scope_params),
        )
        return AssistantRecord.from_row(rows[0]) if rows else None

    async def delete(self, assistant_id: str, *, owner: str | None = None) -> bool:
        """Delete the assistant and its versions; whether it existed (for `owner`)."""
        scope, params = _owned(owner)
        _, deleted = await self.sql.transaction([
            ("DELETE FROM sophia_assistant_versions WHERE assistant_id = ? AND EXISTS"  # noqa: S608
             f" (SELECT 1 FROM sophia_assistants WHERE assistant_id = ?{scope})",
             (assistant_id, assistant_id, *params)),
            (f"DELETE FROM sophia_assistants WHERE assistant_id = ?{scope} RETURNING assistant_id",  # noqa: S608
             (assistant_id, *params)),
        ])  # fmt: skip
        return bool(deleted)

    async def version(
        self, assistant_id: str, version: int, *, owner: str | None = None
    ) -> AssistantRecord | None:
        """Version `version` of the assistant (of `owner`, when given), or None."""
        scope, params = _owned(owner, "a.owner")
        rows = await self.sql.rows(
            f"{_SELECT_VERSIONS} WHERE v.assistant_id = ? AND v.version = ?{scope}",
            (assistant_id, version, *params),
        )
        return AssistantRecord.from_version_row(rows[0]) if rows else None

    async def versions(
        self, assistant_id: str, *, owner: str | None = None
    ) -> list[AssistantRecord]:
        """Every version of the assistant (of `owner`, when given), newest first."""
        scope, params = _owned(owner, "a.owner")
        rows = await self.sql.rows(
            f"{_SELECT_VERSIONS} WHERE v.assistant_id = ?{scope} ORDER BY v.version DESC",
            (assistant_id, *params),
        )
        return [AssistantRecord.from_version_row(r) for r in rows]

    async def search(
        self, *, owner: str | None = None, graph_id: str | None = None
    ) -> list[AssistantRecord]:
        """The assistants (of `owner`; of `graph_id`, when given), newest first. The API
        filters by name and metadata and pages in process (assistants are few)."""
        clause, params = where(owner=owner, graph_id=graph_id)
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_assistants WHERE {clause}"  # noqa: S608
            " ORDER BY created_at DESC",
            params,
        )
        return [AssistantRecord.from_row(r) for r in rows]


def contains(superset: Mapping[str, Any], subset: Mapping[str, Any]) -> bool:
    """Postgres ``@>`` on JSON objects, as LangGraph's metadata filters use it: every
    key of `subset` is in `superset` with an equal value (objects compared the same way)."""
    for key, value in subset.items():
        if key not in superset:
            return False
        have = superset[key]
        if isinstance(value, Mapping) and isinstance(have, Mapping):
            if not contains(have, value):
                return False
        elif have != value:
            return False
    return True
