"""A pool's blocking side (`Connections`) on real DuckDB connections: opening within a
timeout, the abandoned login, and closing after the threads are gone."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import duckdb
import pytest

from stores.warehouse.backends.duck import DuckDBBackend
from stores.warehouse.connections import Connections
from stores.warehouse.errors import PoolClosedError, WarehouseUnavailableError
from stores.warehouse.pool_metrics import PoolMetrics


class SlowLogin:
    """The DuckDB backend whose logins wait for a gate, as a remote login may; it records
    which connections were closed."""

    name = "slow"

    def __init__(self, backend: DuckDBBackend) -> None:
        self.backend = backend
        self.gate = threading.Event()
        self.made: list[duckdb.DuckDBPyConnection] = []
        self.closed: list[duckdb.DuckDBPyConnection] = []

    def connect(self) -> duckdb.DuckDBPyConnection:
        self.gate.wait(30)
        conn = self.backend.connect()
        self.made.append(conn)
        return conn

    def close(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.closed.append(conn)
        self.backend.close(conn)

    def ping(self, conn: Any) -> None:
        self.backend.ping(conn)

    def reset(self, conn: Any) -> None:
        self.backend.reset(conn)

    def is_disconnect(self, exc: BaseException) -> bool:
        return self.backend.is_disconnect(exc)


def connections(connector: Any) -> Connections[Any]:
    return Connections(connector, "test", 2, PoolMetrics("test", "duckdb"))


async def test_a_login_past_its_timeout_is_named_and_closed_when_it_returns(
    backend: DuckDBBackend,
) -> None:
    slow = SlowLogin(backend)
    conns = connections(slow)
    conns.start()
    try:
        with pytest.raises(WarehouseUnavailableError, match=r"connecting took longer than 0\.05s"):
            await conns.open(0.05)
        slow.gate.set()  # the login finishes on its thread after all
        for _ in range(500):  # poll, not a timed assertion
            if slow.closed:
                break
            await asyncio.sleep(0.01)
        assert slow.made and slow.closed == slow.made
    finally:
        conns.stop()


async def test_after_stop_calls_are_refused_and_closes_happen_in_place(
    backend: DuckDBBackend,
) -> None:
    slow = SlowLogin(backend)
    slow.gate.set()
    conns = connections(slow)
    with pytest.raises(PoolClosedError, match="is not open"):
        conns.submit(print)
    conns.start()
    entry = await conns.open(5.0)
    assert await conns.call(lambda c: c.execute("SELECT 41 + 1").fetchone(), entry.conn) == (42,)
    conns.stop()
    with pytest.raises(PoolClosedError, match="is closed"):
        conns.submit(print)
    await conns.close(entry, wait_s=None)  # no threads left: closed here, without raising
    assert slow.closed == [entry.conn]
    with pytest.raises(duckdb.ConnectionException):
        entry.conn.execute("SELECT 1")
