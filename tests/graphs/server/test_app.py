"""The HTTP service over the ASGI transport: graph routes, every error, SSE order, tracing,
lifetime. (Operations routes and the OpenAPI document: test_ops_routes.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from graphs import Engine
from graphs.server.app import create_app
from graphs.workflows import deal_review
from stores.settings import Settings
from tests.graphs.graph_doubles import INVALID_INPUTS, slow_registry
from tests.graphs.server.app_support import exploding_registry, parse_sse, serving

AGENTS = set(deal_review.AGENTS)  # hubspot, gong, slack, linear
ANALYSES = set(deal_review.ANALYSES)  # sales, communication, project


# -- listing, invoke ----------------------------------------------------------------------
async def test_graphs_lists_names_descriptions_and_input_schemas(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphs")
    assert response.status_code == 200
    graphs = {g["name"]: g for g in response.json()["graphs"]}
    assert {"deal_review", "memory_recall"} <= set(graphs)
    review = graphs["deal_review"]
    assert "HubSpot" in review["description"]
    assert review["input_schema"]["properties"]["deal_ids"]["type"] == "array"


async def test_invoke_returns_the_result_with_run_and_trace_ids(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphs/deal_review/invoke", json={"deal_ids": ["D-00003"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "complete" and body["errors"] == []
    assert len(body["run_id"]) == 32
    assert len(body["trace_id"]) == 32 and int(body["trace_id"], 16) != 0
    report = body["deals"]["D-00003"]["report"]
    assert 0 <= report["health_score"] <= 100


async def test_empty_body_means_empty_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphs/deal_review/invoke", content=b"")
    assert response.status_code == 200, response.text
    assert response.json()["deal_ids"] == ["D-00001"]


# -- error cases --------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["invoke", "stream"])
async def test_unknown_graph_is_404_naming_the_known_ones(
    client: httpx.AsyncClient, action: str
) -> None:
    response = await client.post(f"/graphs/deal_reveiw/{action}", json={})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "unknown_graph"
    assert "deal_reveiw" in body["message"]
    assert "deal_review" in body["known"]


@pytest.mark.parametrize("action", ["invoke", "stream"])
async def test_malformed_json_is_400(client: httpx.AsyncClient, action: str) -> None:
    response = await client.post(
        f"/graphs/deal_review/{action}",
        content=b'{"deal_ids": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


@pytest.mark.parametrize(("payload", "field"), INVALID_INPUTS)
async def test_invalid_input_is_422_naming_the_field(
    client: httpx.AsyncClient, payload: Any, field: str
) -> None:
    for action in ("invoke", "stream"):
        response = await client.post(f"/graphs/deal_review/{action}", json=payload)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "invalid_input"
        assert any(field in p for p in body["problems"]), body


async def test_input_the_engine_refuses_after_validation_is_422(
    client: httpx.AsyncClient,
) -> None:
    """A run that would pause for approval needs a thread, which this API does not take."""
    payload = {"deal_ids": ["D-00001"], "require_approval": True}
    invoked = await client.post("/graphs/deal_review/invoke", json=payload)
    assert invoked.status_code == 422
    assert any("require_approval" in p for p in invoked.json()["problems"])


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    ids = [f"D-{i:05d}" for i in range(200_000)]
    response = await client.post("/graphs/deal_review/invoke", json={"deal_ids": ids})
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


async def test_unknown_route_and_method_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = await client.get("/graphs/deal_review/invoke")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


async def test_internal_failure_is_500_with_run_id_and_no_stack_trace(settings: Settings) -> None:
    async with serving(create_app(settings, registry=exploding_registry())) as c:
        response = await c.post("/graphs/boom/invoke", json={})
        streamed = await c.post("/graphs/boom/stream", json={})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal" and len(body["run_id"]) == 32
    for text in (response.text, streamed.text):
        assert "Traceback" not in text
        assert "secret-db-password" not in text
        assert "RuntimeError" not in text
    events = parse_sse(streamed.text)
    assert events[-1][0] == "error" and events[-1][1]["error"] == "internal"


async def test_a_result_without_a_json_form_is_500_not_a_repr(settings: Settings) -> None:
    async with serving(create_app(settings, registry=exploding_registry())) as c:
        invoked = await c.post("/graphs/opaque/invoke", json={})
        streamed = await c.post("/graphs/opaque/stream", json={})
    assert invoked.status_code == 500, invoked.text
    assert invoked.json()["error"] == "internal" and len(invoked.json()["run_id"]) == 32
    kind, data = parse_sse(streamed.text)[-1]
    assert kind == "error" and data["error"] == "internal"
    for text in (invoked.text, streamed.text):
        assert "Opaque" not in text and "object at 0x" not in text


async def test_graph_error_during_a_run_is_4xx_not_500(settings: Settings) -> None:
    async with serving(create_app(settings, registry=exploding_registry())) as c:
        invoked = await c.post("/graphs/refuse/invoke", json={})
        streamed = await c.post("/graphs/refuse/stream", json={})
    assert invoked.status_code == 422
    assert invoked.json()["problems"] == ["n: refused by the graph"]
    kind, data = parse_sse(streamed.text)[-1]
    assert kind == "error" and data["error"] == "invalid_input"


async def test_request_timeout_is_504(settings: Settings) -> None:
    app = create_app(settings, registry=slow_registry(5.0), request_timeout_s=0.3)
    async with serving(app) as c:
        response = await c.post("/graphs/deal_review/invoke", json={})
        assert response.status_code == 504
        assert response.json()["error"] == "timeout"
        stats = (await c.get("/stats")).json()["http"]
    assert stats["active"] == 0 and stats["in_flight"] == 0  # the slot was given back


async def _wait_for(client: httpx.AsyncClient, key: str, value: int) -> None:
    for _ in range(500):
        if (await client.get("/stats")).json()["http"][key] == value:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"stats http.{key} never reached {value}")


@pytest.mark.parametrize("action", ["invoke", "stream"])
async def test_over_the_concurrency_limit_is_503_with_retry_after(
    settings: Settings, action: str
) -> None:
    app = create_app(settings, registry=slow_registry(2.0), max_concurrency=1, max_waiting=1)
    async with serving(app) as c:
        first = asyncio.create_task(c.post(f"/graphs/deal_review/{action}", json={}))
        await _wait_for(c, "active", 1)
        second = asyncio.create_task(c.post(f"/graphs/deal_review/{action}", json={}))
        await _wait_for(c, "waiting", 1)
        rejected = await c.post(f"/graphs/deal_review/{action}", json={})
        assert rejected.status_code == 503
        assert rejected.json()["error"] == "overloaded"
        assert int(rejected.headers["retry-after"]) >= 1
        assert (await first).status_code == 200
        assert (await second).status_code == 200  # the queued one ran after the first
        stats = (await c.get("/stats")).json()["http"]
    assert stats["rejected"] == 1 and stats["active"] == 0


# -- streaming ----------------------------------------------------------------------------
async def test_stream_sends_node_updates_in_order_then_the_result(
    client: httpx.AsyncClient,
) -> None:
    events = []
    async with client.stream(
        "POST", "/graphs/deal_review/stream", json={"deal_ids": ["D-00002"]}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join([chunk async for chunk in response.aiter_text()])
    events = parse_sse(text)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end" and set(kinds[:-1]) == {"update"}
    nodes = [data["node"] for kind, data in events if kind == "update"]
    ran = set(deal_review.build_graph().nodes) - {"select"}  # `select`: for selections only
    assert sorted(nodes) == sorted(ran)  # each node once
    position = {node: i for i, node in enumerate(nodes)}
    last_agent = max(position[a] for a in AGENTS)
    assert all(position[a] > last_agent for a in ANALYSES), nodes
    assert nodes[-1] == "synthesis"
    run_ids = {data["run_id"] for kind, data in events if kind == "update"}
    result = events[-1][1]
    assert run_ids == {result["run_id"]}
    assert result["deals"]["D-00002"]["report"]["health_score"] is not None


async def test_a_quiet_stream_sends_keep_alive_comments(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a slow node runs, comments (ignored by SSE clients) keep proxies from
    closing the connection."""
    monkeypatch.setattr("graphs.server.sse.PING_INTERVAL_S", 0.05)
    async with serving(create_app(settings, registry=slow_registry(1.0))) as c:
        streamed = await c.post("/graphs/deal_review/stream", json={})
    assert streamed.status_code == 200
    comments = [ln for ln in streamed.text.splitlines() if ln.startswith(": ping")]
    assert comments, streamed.text[:500]
    assert parse_sse(streamed.text)[-1][0] == "end"


# -- trace context ------------------------------------------------------------------------
async def test_callers_traceparent_is_continued_into_the_run(client: httpx.AsyncClient) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    header = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    invoked = await client.post("/graphs/deal_review/invoke", json={}, headers=header)
    assert invoked.status_code == 200
    assert invoked.json()["trace_id"] == trace_id
    streamed = await client.post("/graphs/deal_review/stream", json={}, headers=header)
    assert parse_sse(streamed.text)[-1][1]["trace_id"] == trace_id
    # without the header each run starts its own trace
    fresh = await client.post("/graphs/deal_review/invoke", json={})
    assert fresh.json()["trace_id"] != trace_id


# -- lifetime -----------------------------------------------------------------------------
async def test_given_engine_is_used_and_left_open(settings: Settings) -> None:
    async with Engine(settings) as engine:
        async with serving(create_app(engine=engine)) as c:
            assert (await c.post("/graphs/deal_review/invoke", json={})).status_code == 200
        # the app did not close the caller's engine
        assert (await engine.invoke("deal_review", {}))["status"] == "complete"


async def test_shutdown_waits_for_running_runs(settings: Settings) -> None:
    app = create_app(settings, registry=slow_registry(1.0))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        running = asyncio.create_task(c.post("/graphs/deal_review/invoke", json={}))
        await _wait_for(c, "in_flight", 1)
        closing = asyncio.create_task(lifespan.__aexit__(None, None, None))
        response = await running
        await closing
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "complete"
