"""The control tables' SQL plumbing: one bound statement at a time, on SQLite or Postgres.

Threads, runs (and, as they come, assistants, crons, API keys) live in tables beside the
checkpoints, in the same database: SQLite under the data dir by default, Postgres when
``SOPHIA_POSTGRES_URL`` is set. Statements are written once with ``?`` placeholders
(bound, never formatted); the Postgres runner translates them to ``%s``. Table and
column names in statements are constants of our own modules, never input.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from graphs.durable.errors import CheckpointStoreError

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]
Execute = Callable[[str, tuple[Any, ...], bool], Awaitable[list[Row]]]
"""(statement with ? placeholders, bound values, fetch rows?) -> rows."""
Statement = tuple[str, tuple[Any, ...]]
ExecuteAll = Callable[[Sequence[Statement]], Awaitable[list[list[Row]]]]
"""Bound statements run in one transaction (all or none) -> each one's rows."""


@dataclass(frozen=True)
class Sql:
    """How the control tables are reached: `execute` one bound statement, in `dialect`;
    `execute_all` several in one transaction (None: the backend offers none)."""

    execute: Execute
    dialect: Dialect
    execute_all: ExecuteAll | None = None

    async def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Run `statements` in one transaction (all or none); each one's rows (a statement
        without a result has none). A later statement sees what the earlier ones wrote."""
        if self.execute_all is None:
            raise CheckpointStoreError("this checkpoint store runs no transactions")
        return await self.execute_all([(sql, tuple(params)) for sql, params in statements])

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The rows of one query."""
        return await self.execute(sql, tuple(params), True)

    async def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (committed when it returns)."""
        await self.execute(sql, tuple(params), False)

    def contains(self, column: str) -> str:
        """A condition on JSON text column `column` with one placeholder (the wanted value's
        JSON text): true when the column's value contains it as Postgres' jsonb ``@>``
        decides (`json_contains`); NULL contains nothing."""
        if self.dialect == "postgres":
            return f"CAST({column} AS jsonb) @> CAST(? AS jsonb)"
        return f"{SQLITE_CONTAINS}({column}, ?) = 1"

    async def add_columns(self, table: str, columns: Mapping[str, str]) -> None:
        """Add each missing column (``name -> SQL type``) to `table`; existing ones stay."""
        if self.dialect == "postgres":
            for name, kind in columns.items():
                await self.run(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {kind}")
            return
        present = {row[1] for row in await self.rows(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in present:
                await self.run(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


SQLITE_CONTAINS = "sophia_json_contains"
"""The SQL function `register_sqlite_functions` adds to a SQLite connection."""


def _same_scalar(have: Any, want: Any) -> bool:
    if isinstance(have, bool) or isinstance(want, bool):
        return isinstance(have, bool) and isinstance(want, bool) and have == want
    if isinstance(have, int | float) and isinstance(want, int | float):
        return have == want
    return type(have) is type(want) and have == want


def json_contains(have: Any, want: Any) -> bool:
    """Whether JSON value `have` contains `want`, as jsonb ``@>`` decides: an object
    contains an object whose every key it has with a contained value; an array contains
    an array each of whose items some item of it contains; scalars are equal (a number
    is never a boolean)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            key in have and json_contains(have[key], value) for key, value in want.items()
        )
    if isinstance(want, list):
        return isinstance(have, list) and all(
            any(json_contains(item, wanted) for item in have) for wanted in want
        )
    if isinstance(have, dict | list):
        return False
    return _same_scalar(have, want)


def _sqlite_contains(have: Any, want: Any) -> int:
    if have is None or want is None:
        return 0
    try:
        return int(json_contains(json.loads(have), json.loads(want)))
    except (TypeError, ValueError):
        return 0


def register_sqlite_functions(conn: Any) -> None:
    """Add `SQLITE_CONTAINS` (see `Sql.contains`) to sqlite3 connection `conn`."""
    conn.create_function(SQLITE_CONTAINS, 2, _sqlite_contains, deterministic=True)


async def register_aiosqlite_functions(conn: Any) -> None:
    """`register_sqlite_functions` for an aiosqlite connection."""
    await conn.create_function(SQLITE_CONTAINS, 2, _sqlite_contains, deterministic=True)


def where(**equal: Any) -> tuple[str, list[Any]]:
    """``col = ? AND ...`` for each keyword whose value is not None (keywords are column
    names of our own statements, never input), and the values to bind; ``1 = 1`` when
    every value is None."""
    given = {column: value for column, value in equal.items() if value is not None}
    clause = " AND ".join(f"{column} = ?" for column in given) or "1 = 1"
    return clause, list(given.values())


def to_json(value: Any) -> str:
    """JSON text for a column (dates as ISO strings)."""
    return json.dumps(value, default=_iso, ensure_ascii=False, separators=(",", ":"))


def from_json(text: Any, default: Any = None) -> Any:
    """The value of a JSON column (`default` for NULL)."""
    if text is None:
        return default
    return json.loads(text)


def _iso(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON column")


def now_iso() -> str:
    """The current time as an ISO-8601 UTC string (the control tables' timestamps)."""
    return datetime.now(UTC).isoformat()
