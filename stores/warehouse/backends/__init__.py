"""Warehouse backends, chosen by URL: ``duckdb:///path`` or ``snowflake://...``.

A backend knows how to open blocking connections for the pool (it is a `Connector`),
how to run one bound statement and return dict rows with lower-case keys, how to stream a
result in batches, how to read its catalogue, and which of its errors are SQL errors.
Everything here is blocking and runs on the pool's threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from stores.warehouse.backends.url import WarehouseURL, parse_warehouse_url
from stores.warehouse.row import Row


class Backend(Protocol):
    """One kind of warehouse, as the `Warehouse` and its pool use it."""

    name: str  # "duckdb" | "snowflake"; also the connector's name

    def start(self) -> None:
        """Open whatever is shared by all connections (the DuckDB root); may be a no-op."""
        ...

    def stop(self) -> None:
        """Release what `start` opened."""
        ...

    def connect(self) -> Any:
        """Open one connection for the pool."""
        ...

    def close(self, conn: Any) -> None:
        """Close one connection; never raises for a broken one."""
        ...

    def ping(self, conn: Any) -> None:
        """Raise if the connection cannot run statements any more."""
        ...

    def reset(self, conn: Any) -> None:
        """Local clean-up before a connection goes back to the pool (no round trip)."""
        ...

    def is_disconnect(self, exc: BaseException) -> bool:
        """True if ``exc`` means the connection is unusable (vs. a bad statement)."""
        ...

    def is_sql_error(self, exc: BaseException) -> bool:
        """True if ``exc`` is the warehouse rejecting a statement."""
        ...

    def execute(self, conn: Any, sql: str, params: Sequence[Any]) -> list[Row]:
        """Run one statement with ``?`` placeholders bound to ``params``; return all rows."""
        ...

    def stream(
        self, conn: Any, sql: str, params: Sequence[Any], batch_size: int
    ) -> Iterator[list[Row]]:
        """A generator of row batches of at most ``batch_size``; closing it frees the cursor."""
        ...

    def catalog_statement(self) -> tuple[str, tuple[Any, ...]]:
        """A statement returning (table_name, column_name) rows for the current schema."""
        ...


def make_backend(url: str) -> Backend:
    """The backend for ``url``; raises `ConfigurationError` for an unknown scheme or bad URL."""
    parsed = parse_warehouse_url(url)
    if parsed.scheme == "duckdb":
        from stores.warehouse.backends.duck import DuckDBBackend

        return DuckDBBackend(parsed)
    from stores.warehouse.backends.snow import SnowflakeBackend

    return SnowflakeBackend(parsed)


__all__ = ["Backend", "Row", "WarehouseURL", "make_backend", "parse_warehouse_url"]
