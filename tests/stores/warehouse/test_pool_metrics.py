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
from stores.warehouse.pool_metrics import CONNECTION_TIME_BUCKETS_S
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


async def test_a_sub_millisecond_wait_lands_in_the_first_bucket_of_metrics(
    backend: DuckDBBackend,
) -> None:
    """Waits are seconds with the semantic conventions' bounds, as /metrics serves them:
    an acquire of an idle connection (microseconds) counts in the 1 ms bucket, not in an
    'up to 5 s' one."""
    tel = telemetry.configure(service_name="sophia-test", prometheus=True)
    try:
        async with ConnectionPool(backend, min_size=1, max_size=1, name="bucketed") as pool:
            async with pool.acquire():  # an idle connection: no waiting
                pass
            waited = pool.metrics.wait_max_s
            text = tel.prometheus_text().decode()
    finally:
        tel.shutdown()
    counts = {}
    for line in text.splitlines():
        if line.startswith("db_client_connection_wait_time_seconds_bucket") and (
            'db_client_connection_pool_name="bucketed"' in line
        ):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            counts[float(bound)] = float(line.rsplit(" ", 1)[1])
    bounds = sorted(counts)
    assert bounds[:9] == list(CONNECTION_TIME_BUCKETS_S), text
    owning = min(b for b in bounds if b >= waited)
    assert counts[owning] == 1.0 and all(counts[b] == 0.0 for b in bounds if b < owning)
    if waited < 0.001:  # the usual case, unless the machine stalled the acquire
        assert counts[0.001] == 1.0
