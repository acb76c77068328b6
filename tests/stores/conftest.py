"""Fixtures for the warehouse tests.

- ``emulator`` (session): a running `WarehouseEmulator` (fakesnow over HTTP, reached by
  the real snowflake connector) with small latencies (login 20 ms, statement 5 ms) and
  the tables of `sample_tables()` loaded. Tests that break it (``fail``, ``kill_sessions``,
  ``set_latency``) must restore it (``recover()``, latency back to 20/5).
- ``emulator_url`` (function): the emulator's ``snowflake://`` URL.
- ``duckdb_url`` (function): ``duckdb:///<tmp>/warehouse.duckdb``, a fresh DuckDB file
  holding the same tables as the emulator.
- ``sample_tables()``: the tables themselves (pyarrow), for expected values:
  ``deals`` (deal_id 'D0000'..'D2999', company_id 'C000'..'C099', amount, stage) and
  ``notes`` (note_id, deal_id, body; two notes per deal for the first 500 deals, none for
  the rest; bodies include quotes and semicolons).
- ``backend`` (function): a started DuckDB backend on an in-memory database (pool tests).
- ``raw_redis`` (function): a plain Redis client on the session's redis-server, to look at
  what the cache wrote; deletes the test's keys after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from stores.demo.emulator import WarehouseEmulator
from stores.warehouse.backends import parse_warehouse_url
from stores.warehouse.backends.duck import DuckDBBackend
from tests.conftest import RedisServer

N_DEALS = 3000
N_DEALS_WITH_NOTES = 500


def sample_tables() -> dict[str, pa.Table]:
    """Deterministic small tables shared by the DuckDB and emulator fixtures."""
    deals = pa.table(
        {
            "deal_id": [f"D{i:04d}" for i in range(N_DEALS)],
            "company_id": [f"C{i % 100:03d}" for i in range(N_DEALS)],
            "amount": [1000 + i for i in range(N_DEALS)],
            "stage": [("open", "won", "lost")[i % 3] for i in range(N_DEALS)],
        }
    )
    note_deals = [f"D{i:04d}" for i in range(N_DEALS_WITH_NOTES) for _ in range(2)]
    notes = pa.table(
        {
            "note_id": [f"N{i:05d}" for i in range(len(note_deals))],
            "deal_id": note_deals,
            "body": [f'it\'s note {i}; "quoted"' for i in range(len(note_deals))],
        }
    )
    return {"deals": deals, "notes": notes}


@pytest.fixture(scope="session")
def emulator() -> Iterator[WarehouseEmulator]:
    """A session-wide emulator with 20 ms logins, 5 ms statements and the sample tables."""
    with WarehouseEmulator(login_ms=20, query_ms=5, data=sample_tables()) as emu:
        yield emu


@pytest.fixture
def emulator_url(emulator: WarehouseEmulator) -> str:
    """The emulator's snowflake:// URL."""
    return emulator.url


def write_duckdb(path: Path, tables: dict[str, pa.Table]) -> None:
    """Create ``tables`` in a DuckDB file at ``path``."""
    with duckdb.connect(str(path)) as conn:
        for name, table in tables.items():
            conn.register("_src", table)
            conn.execute(f"CREATE TABLE {name} AS SELECT * FROM _src")  # noqa: S608 (test data)
            conn.unregister("_src")


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    """A fresh DuckDB file with the sample tables; its duckdb:/// URL."""
    path = tmp_path / "warehouse.duckdb"
    write_duckdb(path, sample_tables())
    return f"duckdb:///{path}"


@pytest.fixture
async def backend() -> AsyncIterator[DuckDBBackend]:
    """A started DuckDB backend on an in-memory database (for the pool tests)."""
    b = DuckDBBackend(parse_warehouse_url("duckdb:///:memory:"))
    b.start()
    yield b
    b.stop()


@pytest_asyncio.fixture(loop_scope="function")
async def raw_redis(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client to look at what the cache wrote; deletes this test's keys after."""
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{key_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
