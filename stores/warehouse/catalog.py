"""The identifier allow-list: the warehouse's own catalogue of tables and columns.

Table and column names never come from callers straight into SQL: they are looked up
here (case-insensitively), and the quoted form of the name *as the warehouse spells it*
is what goes into the statement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stores.warehouse.errors import UnknownIdentifierError


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Catalog:
    """Tables and their columns: lower-case name -> the name as stored."""

    tables: Mapping[str, str]
    columns: Mapping[str, Mapping[str, str]]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Catalog:
        """Build from ``{"table_name": ..., "column_name": ...}`` rows."""
        tables: dict[str, str] = {}
        columns: dict[str, dict[str, str]] = {}
        for row in rows:
            table, column = str(row["table_name"]), str(row["column_name"])
            tables.setdefault(table.lower(), table)
            columns.setdefault(table.lower(), {})[column.lower()] = column
        return cls(tables=tables, columns=columns)

    def as_dict(self) -> dict[str, set[str]]:
        """Table -> set of columns, all lower case."""
        return {t: set(self.columns.get(t, {})) for t in self.tables}

    def quoted(self, table: str, column: str) -> tuple[str, str]:
        """The quoted table and column names; `UnknownIdentifierError` if either is unknown."""
        t = table.lower()
        if t not in self.tables:
            known = ", ".join(sorted(self.tables)) or "none"
            raise UnknownIdentifierError(f"unknown table {table!r}; known tables: {known}")
        cols = self.columns.get(t, {})
        c = column.lower()
        if c not in cols:
            known = ", ".join(sorted(cols)) or "none"
            raise UnknownIdentifierError(
                f"unknown column {column!r} in table {table!r}; its columns: {known}"
            )
        return quote_identifier(self.tables[t]), quote_identifier(cols[c])


class CatalogCache:
    """The catalogue of one warehouse, read once and re-read on `refresh` or on a miss.

    A name that is missing triggers one re-read before it is refused (so a table created
    after the warehouse opened is found without a restart), but misses re-read at most
    once per ``miss_refresh_s``, so that bad names cannot flood the warehouse with
    catalogue queries; concurrent readers share one load.
    """

    def __init__(
        self,
        load: Callable[[], Awaitable[list[dict[str, Any]]]],
        miss_refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()
        self._miss_refresh_s = miss_refresh_s
        self._clock = clock
        self._miss_refreshed_at: float | None = None
        self.miss_refreshes = 0

    @property
    def cached(self) -> Catalog | None:
        """The catalogue if it was loaded already, else None (never does I/O)."""
        return self._catalog

    async def get(self) -> Catalog:
        """The cached catalogue, loading it the first time."""
        if self._catalog is None:
            async with self._lock:
                if self._catalog is None:
                    self._catalog = Catalog.from_rows(await self._load())
        return self._catalog

    async def refresh(self) -> Catalog:
        """Re-read the catalogue from the warehouse."""
        async with self._lock:
            self._catalog = Catalog.from_rows(await self._load())
            return self._catalog

    async def quoted(self, table: str, column: str) -> tuple[str, str]:
        """Check and quote ``table``/``column``, re-reading the catalogue once on a miss
        (unless a miss re-read it less than ``miss_refresh_s`` ago)."""
        catalog = await self.get()
        try:
            return catalog.quoted(table, column)
        except UnknownIdentifierError:
            pass
        async with self._lock:
            current = self._catalog or catalog
            if current is not catalog:  # another miss re-read it while we waited
                return current.quoted(table, column)
            now = self._clock()
            if self._miss_refreshed_at is not None and (
                now - self._miss_refreshed_at < self._miss_refresh_s
            ):
                return current.quoted(table, column)  # raises: rate-limited
            self._miss_refreshed_at = now
            self.miss_refreshes += 1
            self._catalog = Catalog.from_rows(await self._load())
            return self._catalog.quoted(table, column)
