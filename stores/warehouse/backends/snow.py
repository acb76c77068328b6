"""The Snowflake backend through snowflake-connector-python (``?`` bound server-side)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import snowflake.connector
from snowflake.connector import errors as sf_errors

from stores.warehouse.backends.url import WarehouseURL
from stores.warehouse.row import Row


class SnowflakeBackend:
    """Snowflake (or the fakesnow emulator) with ``paramstyle="qmark"``.

    Each pooled connection is its own Snowflake session. Only `ProgrammingError` (and its
    kin: the server rejected the statement) counts as a SQL error; every other connector
    error is treated as a broken connection.
    """

    name = "snowflake"

    def __init__(self, url: WarehouseURL) -> None:
        self.url = url

    def connect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for `snowflake.connector.connect` (password included)."""
        opts = self.url.options
        kwargs: dict[str, Any] = {
            "user": self.url.user,
            "password": self.url.password,
            "account": self.url.account,
            "database": self.url.database,
            "schema": self.url.schema,
            "paramstyle": "qmark",
            "autocommit": True,
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "client_telemetry_enabled": False,
        }
        for key in ("warehouse", "role", "host", "protocol"):
            if opts.get(key):
                kwargs[key] = opts[key]
        if opts.get("port"):
            kwargs["port"] = int(opts["port"])
        for key in ("login_timeout", "network_timeout"):
            if opts.get(key):
                kwargs[key] = float(opts[key])
        if opts.get("fakesnow_db_path"):
            kwargs["session_parameters"]["FAKESNOW_DB_PATH"] = opts["fakesnow_db_path"]
        return kwargs

    def start(self) -> None:
        """Nothing is shared between Snowflake sessions."""

    def stop(self) -> None:
        """Nothing is shared between Snowflake sessions."""

    def connect(self) -> snowflake.connector.SnowflakeConnection:
        """Log in: one new Snowflake session."""
        return snowflake.connector.connect(**self.connect_kwargs())

    def close(self, conn: snowflake.connector.SnowflakeConnection) -> None:
        """Log out; a dead session is simply dropped."""
        try:
            conn.close()
        except Exception:
            pass

    def ping(self, conn: snowflake.connector.SnowflakeConnection) -> None:
        """Heartbeat the session (`is_valid`), raising if it is gone."""
        if not conn.is_valid():
            raise sf_errors.OperationalError(msg="the Snowflake session is no longer valid")

    def reset(self, conn: snowflake.connector.SnowflakeConnection) -> None:
        """Nothing to reset: sessions run in auto-commit and our cursors are closed after use."""

    def is_disconnect(self, exc: BaseException) -> bool:
        """Any connector error that is not the server rejecting the statement."""
        return isinstance(exc, sf_errors.Error) and not self.is_sql_error(exc)

    def is_sql_error(self, exc: BaseException) -> bool:
        """The server rejected the statement (syntax, types, missing objects)."""
        return isinstance(
            exc,
            sf_errors.ProgrammingError
            | sf_errors.DataError
            | sf_errors.IntegrityError
            | sf_errors.NotSupportedError,
        )

    def execute(
        self, conn: snowflake.connector.SnowflakeConnection, sql: str, params: Sequence[Any]
    ) -> list[Row]:
        """Run ``sql`` with server-side bound ``params``; rows as dicts with lower-case keys."""
        with conn.cursor() as cur:
            cur.execute(sql, tuple(params) if params else None)
            if not cur.description:
                return []
            names = [d.name.lower() for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def stream(
        self,
        conn: snowflake.connector.SnowflakeConnection,
        sql: str,
        params: Sequence[Any],
        batch_size: int,
    ) -> Iterator[list[Row]]:
        """Arrow result batches sliced to ``batch_size`` rows; fetchmany if Arrow is refused."""
        cur = conn.cursor()
        try:
            cur.execute(sql, tuple(params) if params else None)
            if not cur.description:
                return
            names = [d.name.lower() for d in cur.description]
            try:
                batches = cur.fetch_arrow_batches()
            except sf_errors.NotSupportedError:
                batches = None
            if batches is None:
                while rows := cur.fetchmany(batch_size):
                    yield [dict(zip(names, row, strict=True)) for row in rows]
                return
            for table in batches:
                for offset in range(0, table.num_rows, batch_size):
                    part = table.slice(offset, batch_size)
                    columns = [part.column(i).to_pylist() for i in range(part.num_columns)]
                    yield [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        finally:
            cur.close()

    def catalog_statement(self) -> tuple[str, tuple[Any, ...]]:
        """Tables and columns of the URL's schema."""
        return (
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ?",
            (self.url.schema.upper(),),
        )
