"""The dashboard's data, routes and run log, on a real engine over the small warehouse."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from rich.console import Console
from starlette.applications import Starlette

from graphs.cli import stats as stats_view
from graphs.engine.engine import Engine
from graphs.engine.run_record import FINISHED
from graphs.server.dashboard.routes import SCHEMA, dashboard_data, dashboard_routes
from graphs.server.dashboard.waterfall import waterfall
from stores.errors import SophiaError
from stores.settings import Settings
from tests.graphs.server.dashboard.dashboard_support import (
    FLAKY,
    DashboardServer,
    free_port,
    registry_with_flaky,
)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    opened = Engine(settings, registry=registry_with_flaky(), configure_telemetry=True)
    async with opened:
        yield opened


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=dashboard_routes())
    app.state.engine = engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as c:
        yield c


async def test_data_reflects_runs_pool_cache_breakers(engine: Engine) -> None:
    before = dashboard_data(engine)
    assert before["schema"] == SCHEMA
    assert before["runs"]["recent"] == []
    await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})
    partial = await engine.invoke(FLAKY, {"deal_ids": ["D-00002"]})
    assert partial["status"] == "partial"
    data = dashboard_data(engine)
    json.dumps(data, allow_nan=False)  # strict JSON: no NaN/inf anywhere
    assert data["runs"]["totals"] == {**dict.fromkeys(FINISHED, 0), "complete": 1, "partial": 1}
    newest = data["runs"]["recent"][0]
    assert newest["graph"] == FLAKY and newest["status"] == "partial"
    assert newest["failed_sources"] == ["slack"]
    assert newest["trace_url"] == f"/dashboard/traces/{partial['trace_id']}"
    ops = {op["operation"]: op for op in data["operations"]}
    assert ops["run.deal_review"]["group"] == "run" and ops["run.deal_review"]["count"] == 1
    assert ops["node.slack"]["group"] == "agent" and ops["node.slack"]["errors"] >= 1
    assert ops["node.slack"]["breaches"] >= 1  # the broken agent fails after 250 ms > 200 ms
    assert ops["node.slack"]["series"][-1]["breaches"] >= 1
    assert ops["warehouse.duckdb.query"]["group"] == "warehouse"
    assert ops["warehouse.duckdb.query"]["threshold_ms"] == 100.0
    assert ops["run.deal_review"]["series"][-1]["count"] == 1
    wh = data["warehouse"]
    assert wh["statements"] > before["warehouse"]["statements"]
    assert wh["utilisation"] == wh["in_use"] / wh["max_size"]
    assert wh["utilisation_target"] == 0.8
    queries = {ns["namespace"]: ns for ns in data["cache"]["namespaces"]}["queries"]
    assert queries["requests"] > 0 and 0.0 <= queries["hit_ratio"] <= 1.0
    assert data["cache"]["redis"]["state"] == "disabled"
    assert [b["name"] for b in data["breakers"]] == ["warehouse"]
    assert data["breakers"][0]["state"] == "closed"


async def test_open_breaker_shows_as_open_with_its_change_time(engine: Engine) -> None:
    assert engine.guards is not None
    breaker = engine.guards.breaker("warehouse")

    async def fail() -> None:
        raise ConnectionError("warehouse unreachable")

    for _ in range(30):
        try:
            await breaker.call(fail)
        except (ConnectionError, SophiaError):
            pass
    (row,) = dashboard_data(engine)["breakers"]
    assert row["state"] == "open"
    assert row["failures"] >= 1 and row["rejections"] >= 1 and row["state_changed_at"] > 0


async def test_routes_serve_page_assets_data_and_trace(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/dashboard/static/dashboard.js" in page.text and "cdn" not in page.text.lower()
    js = await client.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and "/dashboard/data" in js.text
    assert (await client.get("/dashboard/static/dashboard.css")).status_code == 200
    assert (await client.get("/dashboard/static/..%2Fdashboard.py")).status_code == 404
    result = await engine.invoke(FLAKY, {"deal_ids": ["D-00003"]})
    data = (await client.get("/dashboard/data")).json()
    assert data["runs"]["recent"][0]["run_id"] == result["run_id"]
    assert data["queue"] == {"mode": "in-process"}  # no SOPHIA_RUN_QUEUE: runs run here
    trace = await client.get(f"/dashboard/traces/{result['trace_id']}")
    assert trace.status_code == 200
    spans = trace.json()["spans"]
    names = {s["name"] for s in spans}
    assert any("slack" in n for n in names)
    failed = [s for s in spans if s["status"] == "ERROR"]
    assert failed and any("slack" in s["name"] for s in failed)
    assert spans[0]["start_ms"] == 0.0 and all(s["duration_ms"] >= 0 for s in spans)
    # a node's own statements (events of its span) are rows under that node
    by_id = {s["span_id"]: s for s in spans}
    statements = [s for s in spans if "db.query.text" in s["attributes"]]
    own = [s for s in statements if by_id[s["parent_span_id"]]["parent_span_id"] is not None]
    assert own and all(s["name"].startswith("SELECT ") for s in own)
    assert (await client.get("/dashboard/traces/not-a-trace")).status_code == 400
    missing = await client.get("/dashboard/traces/" + "0" * 32)
    assert missing.status_code == 404 and "not in the span file" in missing.json()["message"]


def test_waterfall_names_a_missing_file(tmp_path: Any) -> None:
    with pytest.raises(SophiaError, match="no span file"):
        waterfall(tmp_path / "traces.jsonl", "a" * 32)


def test_stats_view_reads_a_running_server(settings: Settings) -> None:
    with DashboardServer(settings) as server, httpx.Client(base_url=server.url) as client:
        client.post(f"/graphs/{FLAKY}/invoke", json={"deal_ids": ["D-00005"]}, timeout=60)
        data = stats_view.fetch(server.url)
        console = Console(record=True, width=160)
        args = argparse.Namespace(watch=False, url=server.url, interval=1.0)
        assert stats_view.main(args, console=console) == 0
    assert data["schema"] == SCHEMA and data["runs"]["totals"]["partial"] == 1
    text = console.export_text()
    assert "run.deal_review_flaky" in text and "warehouse.duckdb.query" in text
    assert "partial" in text and "slack" in text
    assert "breaker warehouse" in text and "closed" in text
    assert "queries" in text  # the cache namespace row


def test_stats_view_names_an_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(stats_view.StatsUnavailableError, match="is `sophia serve` running"):
        stats_view.fetch(url, timeout_s=2)
    args = argparse.Namespace(watch=False, url=url, interval=1.0)
    with pytest.raises(stats_view.StatsUnavailableError, match="/dashboard/data"):
        stats_view.main(args)  # the CLI prints it as one line and exits 1
