"""An API server and a worker on two hosts (network namespaces joined by veth pairs,
made and removed by the test): a run queued on one executes on the other, with nothing
shared but Postgres, Redis and the warehouse, reached by address (no loopback, no shared
files). Skipped, saying why, where namespaces cannot be made."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RedisServer
from tests.graphs.durable.durable_support import postgres_available, postgres_schema
from tests.graphs.netns_hosts import hosts, skip_unless_namespaces, tcp_forward
from tests.graphs.workers.cluster import Cluster, run_rows

pytestmark = pytest.mark.slow


def _moved(url: str, host: str, port: int) -> str:
    """`url` (a postgresql:// or redis:// URL on 127.0.0.1) at `host`:`port`."""
    return re.sub(r"127\.0\.0\.1:\d+", f"{host}:{port}", url, count=1)


def _emulator_at(url: str, host: str, port: int) -> str:
    url = re.sub(r"([?&]host=)[^&]+", rf"\g<1>{host}", url)
    return re.sub(r"([?&]port=)\d+", rf"\g<1>{port}", url)


async def test_a_run_queued_on_one_host_executes_on_another(
    tmp_path: Path, disposable_redis: RedisServer
) -> None:
    from langgraph_sdk import get_client

    skip_unless_namespaces()
    if not postgres_available():
        pytest.skip("no Postgres on 127.0.0.1:5432")
    with postgres_schema() as pg_url, hosts(2) as (api_host, worker_host):
        gateway = api_host.gateway  # a root-namespace address both hosts route to
        local = Cluster(tmp_path, pg_url, disposable_redis.url)
        with local, tcp_forward(gateway, 0, "127.0.0.1", 5432, max_connections=200) as pg, \
                tcp_forward(gateway, 0, "127.0.0.1", disposable_redis.port) as redis:
            emulator = re.search(r"[?&]port=(\d+)", local.warehouse())
            assert emulator is not None
            with tcp_forward(gateway, 0, "127.0.0.1", int(emulator.group(1))) as warehouse:
                cluster = Cluster(tmp_path / "hosts", _moved(pg_url, pg.host, pg.port),
                                  _moved(disposable_redis.url, redis.host, redis.port))  # fmt: skip
                cluster.warehouse_url = _emulator_at(local.warehouse(), warehouse.host,
                                                     warehouse.port)  # fmt: skip
                with cluster:
                    api = cluster.api("api", on=api_host, wait=False)
                    worker = cluster.worker("worker", on=worker_host, wait=False)
                    cluster.ready()
                    sdk: Any = get_client(url=api, timeout=120)
                    thread = (await sdk.threads.create())["thread_id"]
                    result = await sdk.runs.wait(thread, "deal_review",
                                                 input={"deal_ids": ["D-00001"]})  # fmt: skip
                    assert result["report"]["D-00001"]["deal"], result
                    streamed = [p.event async for p in sdk.runs.stream(
                        thread, "deal_review", input={"deal_ids": ["D-00002"]},
                        stream_mode="updates")]  # fmt: skip
                    assert streamed[0] == "metadata" and "updates" in streamed, streamed
                    rows = run_rows(pg_url)
    assert api.startswith(f"http://{api_host.ip}:")
    assert len(rows) == 2 and all(r["status"] == "complete" for r in rows), rows
    assert all(r["kwargs"]["worker"].endswith(f"-{worker.pid}") for r in rows), rows
