"""The warehouse emulator, driven with the real snowflake connector."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
import pytest
import snowflake.connector
from snowflake.connector import errors as sf_errors

from stores.demo.emulator import WarehouseEmulator
from stores.errors import ConfigurationError
from stores.warehouse.backends import parse_warehouse_url
from stores.warehouse.backends.snow import SnowflakeBackend


@pytest.fixture
def emu(emulator: WarehouseEmulator) -> Iterator[WarehouseEmulator]:
    """The session emulator, restored to normal service after the test."""
    yield emulator
    emulator.recover()
    emulator.set_latency(login_ms=20, query_ms=5)


def connect(url: str) -> snowflake.connector.SnowflakeConnection:
    return SnowflakeBackend(parse_warehouse_url(url)).connect()


def test_url_reaches_the_loaded_tables_with_lower_case_names(emu: WarehouseEmulator) -> None:
    assert emu.url.startswith("snowflake://fake:snow@emulator/SOPHIA/PUBLIC?host=127.0.0.1&port=")
    logins, statements = emu.logins, emu.statements
    with connect(emu.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT deal_id, amount FROM deals WHERE deal_id = ?", ("D0003",))
        assert [d.name for d in cur.description] == ["deal_id", "amount"]
        assert cur.fetchall() == [("D0003", 1003)]
    assert emu.logins == logins + 1 and emu.statements == statements + 1


def test_load_lower_cases_and_replaces_tables(emu: WarehouseEmulator) -> None:
    emu.load({"scratch": pa.table({"Key": ["a", "b"], "VALUE": [1, 2]})})
    emu.load({"scratch": pa.table({"Key": ["c"], "VALUE": [3]})})
    with connect(emu.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM scratch")
        assert [d.name for d in cur.description] == ["key", "value"]
        assert cur.fetchall() == [("c", 3)]
    with pytest.raises(ConfigurationError):
        emu.load({"bad name; drop": pa.table({"a": [1]})})


def test_latency_is_added_per_statement(emu: WarehouseEmulator) -> None:
    with connect(emu.url) as conn, conn.cursor() as cur:
        emu.set_latency(query_ms=150)
        started = time.perf_counter()
        for _ in range(3):
            cur.execute("SELECT 1")
        slow = time.perf_counter() - started
    # a lower bound only: the added sleeps must be there (no upper bound: noisy machines)
    assert slow >= 0.45


def test_fail_and_recover(emu: WarehouseEmulator) -> None:
    url = emu.url.replace(
        "login_timeout=10&network_timeout=10", "login_timeout=1&network_timeout=1"
    )
    with connect(url) as conn:
        emu.fail("error")
        with pytest.raises(sf_errors.Error), conn.cursor() as cur:
            cur.execute("SELECT 1")
        with pytest.raises(sf_errors.Error):
            connect(url)
        emu.recover()
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchall() == [(1,)]
    with pytest.raises(ValueError):
        emu.fail("explode")  # type: ignore[arg-type]


def test_kill_sessions_breaks_open_connections(emu: WarehouseEmulator) -> None:
    with connect(emu.url) as conn:
        assert emu.kill_sessions() >= 1
        with pytest.raises(sf_errors.Error, match="401"), conn.cursor() as cur:
            cur.execute("SELECT 1")


async def test_async_context_manager_serves_and_stops() -> None:
    async with WarehouseEmulator(login_ms=0, query_ms=0) as emu:
        url = emu.url
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT 41 + 1")
            assert cur.fetchall() == [(42,)]
    with pytest.raises(ConfigurationError):
        WarehouseEmulator().url  # noqa: B018 (not started: no URL)


def test_database_and_schema_must_be_plain_identifiers() -> None:
    with pytest.raises(ConfigurationError, match="database"):
        WarehouseEmulator(database="sophia; drop table x")
    with pytest.raises(ConfigurationError, match="schema"):
        WarehouseEmulator(schema="public.evil")
