"""The embedded DuckDB backend: one root connection, a cursor duplicate per pooled slot."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from stores.warehouse.backends.url import WarehouseURL
from stores.warehouse.errors import WarehouseUnavailableError
from stores.warehouse.row import Row


class DuckDBBackend:
    """DuckDB through its Python API.

    A DuckDB file can be opened read-write by one process only, so the backend opens the
    file once (`start`) and each pooled "connection" is ``root.cursor()``: an independent
    connection to the same database that one task uses at a time.
    """

    name = "duckdb"

    def __init__(self, url: WarehouseURL) -> None:
        self.url = url
        self._root: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Open the database file (read-only if the URL says so)."""
        path = self.url.path
        if self.url.read_only and path != ":memory:" and not Path(path).exists():
            raise WarehouseUnavailableError(f"DuckDB file {path} does not exist (read_only=true)")
        try:
            self._root = duckdb.connect(path, read_only=self.url.read_only and path != ":memory:")
        except duckdb.Error as exc:
            raise WarehouseUnavailableError(f"cannot open DuckDB database {path}: {exc}") from exc

    def stop(self) -> None:
        """Close the root connection (and with it every cursor duplicate)."""
        with self._lock:
            if self._root is not None:
                self._root.close()
                self._root = None

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new cursor duplicate of the root connection."""
        with self._lock:
            if self._root is None:
                raise WarehouseUnavailableError("the DuckDB database is not open")
            return self._root.cursor()

    def close(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Close one cursor duplicate."""
        try:
            conn.close()
        except duckdb.Error:
            pass

    def ping(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Run ``SELECT 1``."""
        conn.execute("SELECT 1").fetchall()

    def reset(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Nothing to reset: statements run in auto-commit and results are fully consumed."""

    def is_disconnect(self, exc: BaseException) -> bool:
        """A closed connection or a fatal database error."""
        if isinstance(exc, duckdb.ConnectionException | duckdb.FatalException):
            return True
        return isinstance(exc, duckdb.Error) and "closed" in str(exc).lower()

    def is_sql_error(self, exc: BaseException) -> bool:
        """Any other DuckDB error is the statement's fault."""
        return isinstance(exc, duckdb.Error) and not self.is_disconnect(exc)

    def execute(
        self, conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]
    ) -> list[Row]:
        """Run ``sql`` with bound ``params``; rows as dicts with lower-case keys."""
        conn.execute(sql, list(params))
        if conn.description is None:
            return []
        names = [d[0].lower() for d in conn.description]
        return [dict(zip(names, row, strict=True)) for row in conn.fetchall()]

    def stream(
        self, conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any], batch_size: int
    ) -> Iterator[list[Row]]:
        """Batches from ``fetchmany``; the result is drained or dropped when the generator ends."""
        conn.execute(sql, list(params))
        try:
            if conn.description is None:
                return
            names = [d[0].lower() for d in conn.description]
            while True:
                rows = conn.fetchmany(batch_size)
                if not rows:
                    return
                yield [dict(zip(names, row, strict=True)) for row in rows]
        finally:
            # a new statement drops the pending result, so the cursor is clean for reuse
            try:
                conn.execute("SELECT 1").fetchall()
            except duckdb.Error:
                pass

    def catalog_statement(self) -> tuple[str, tuple[Any, ...]]:
        """Tables and columns of the current database and schema."""
        return (
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = current_schema()",
            (),
        )
