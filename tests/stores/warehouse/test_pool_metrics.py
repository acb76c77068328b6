"""Pool gauges and histograms through the real OTel SDK (the global meter, as in production)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import telemetry
from stores.warehouse.backends.duck import DuckDBBackend
from stores.warehouse.pool import ConnectionPool
from tests.stores.metric_points import metric_points


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    tel = telemetry.configure(service_name="sophia-test", prometheus=False, metric_readers=[reader])
    try:
        yield reader
    finally:
        tel.shutdown()


def points(reader: InMemoryMetricReader, name: str, pool: str) -> list[Any]:
    return [
        p
        for p in metric_points(reader, name)
        if p.attributes.get("db.client.connection.pool.name") == pool
    ]


def by_state(reader: InMemoryMetricReader, pool: str) -> dict[str, int]:
    return {
        p.attributes["db.client.connection.state"]: p.value
        for p in points(reader, "db.client.connection.count", pool)
    }


async def test_gauges_report_each_live_pool_at_collection(
    reader: InMemoryMetricReader, backend: DuckDBBackend
) -> None:
    async with (
        ConnectionPool(backend, min_size=2, max_size=2, name="gauged-a"),
        ConnectionPool(backend, min_size=1, max_size=1, name="gauged-b") as b,
    ):
        assert by_state(reader, "gauged-a") == {"used": 0, "idle": 2}
        assert by_state(reader, "gauged-b") == {"used": 0, "idle": 1}
        async with b.acquire():
            waiter = asyncio.create_task(_hold(b))
            await asyncio.sleep(0.05)  # the waiter is queued: b has one connection, leased
            assert by_state(reader, "gauged-b") == {"used": 1, "idle": 0}
            pending = points(reader, "db.client.connection.pending_requests", "gauged-b")
            assert [p.value for p in pending] == [1]
        await waiter
        assert by_state(reader, "gauged-b") == {"used": 0, "idle": 1}
        waits = points(reader, "db.client.connection.wait_time", "gauged-b")
        assert [p.count for p in waits] == [2]  # both acquires recorded their wait
        assert by_state(reader, "gauged-a") == {"used": 0, "idle": 2}
    # closed pools are no longer reported
    assert by_state(reader, "gauged-a") == {} and by_state(reader, "gauged-b") == {}


async def _hold(pool: ConnectionPool[Any]) -> None:
    async with pool.acquire():
        pass
