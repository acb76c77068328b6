"""The operations routes (health, readiness, metrics, stats) and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate as validate_openapi
from starlette.routing import Route

from graphs import Engine
from graphs.engine.run_record import LANGGRAPH_STATUS
from graphs.server.app import create_app
from graphs.server.openapi import ApiRoute, UndocumentedRouteError, openapi_document
from graphs.workflows import deal_review
from stores.settings import Settings
from tests.graphs.server.app_support import serving


# -- operations ---------------------------------------------------------------------------
async def test_healthz_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_names_each_dependency(indexed_settings: Settings) -> None:
    # The memory index loads in the background: until then the service is degraded (runs
    # work, recall says the index is loading), never unready.
    async with serving(create_app(indexed_settings)) as client:
        deadline = asyncio.get_running_loop().time() + 120
        while True:
            response = await client.get("/readyz")
            assert response.status_code == 200, response.text
            body = response.json()
            memory = body["checks"]["memory_store"]
            if memory["ok"] or asyncio.get_running_loop().time() > deadline:
                break
            assert body["status"] == "degraded" and memory["state"] == "loading", memory
            await asyncio.sleep(0.2)
    assert body["status"] == "ready"
    checks = body["checks"]
    assert set(checks) == {"warehouse", "redis", "memory_store"}
    assert checks["warehouse"]["ok"] is True and checks["warehouse"]["backend"] == "duckdb"
    assert checks["redis"] == {**checks["redis"], "ok": True, "enabled": False}
    assert checks["memory_store"]["ok"] is True and checks["memory_store"]["items"] > 0


async def test_readyz_without_a_memory_index_is_degraded(client: httpx.AsyncClient) -> None:
    body = (await client.get("/readyz")).json()
    assert body["status"] == "degraded"
    assert body["checks"]["memory_store"] == {
        **body["checks"]["memory_store"], "ok": False, "state": "absent", "required": False
    }


async def test_readyz_with_redis_up_then_down(settings: Settings, disposable_redis: Any) -> None:
    with_redis = settings.model_copy(update={"redis_url": disposable_redis.url})
    async with serving(create_app(with_redis)) as c:
        up = await c.get("/readyz")
        assert up.status_code == 200 and up.json()["checks"]["redis"]["ok"] is True
        disposable_redis.stop()
        down = await c.get("/readyz")
        # Redis is optional (the cache serves L1 alone): degraded, still ready for traffic
        assert down.status_code == 200
        assert down.json()["status"] == "degraded"
        assert down.json()["checks"]["redis"]["ok"] is False
        assert down.json()["checks"]["redis"]["error"]
        run = await c.post("/graphs/deal_review/invoke", json={})
        assert run.status_code == 200


async def test_readyz_is_503_when_the_engine_is_closed(settings: Settings) -> None:
    engine = Engine(settings)
    async with engine:
        app = create_app(engine=engine)
    async with serving(app) as c:  # the engine given to the app is closed now
        response = await c.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    # No key can be checked without an open engine, so the service fails closed: the
    # public answer says which check failed, not why (errors may name hosts).
    assert body["checks"]["warehouse"] == {"ok": False, "required": True}


async def test_metrics_is_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.post("/graphs/deal_review/invoke", json={})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text


async def test_stats_has_engine_and_admission_figures(client: httpx.AsyncClient) -> None:
    await client.post("/graphs/deal_review/invoke", json={})
    response = await client.get("/stats")
    assert response.status_code == 200
    body = response.json()
    assert {"warehouse", "cache", "breakers", "monitor", "http"} <= set(body)
    assert body["warehouse"]["statements"] > 0
    assert body["http"]["limit"] >= 1 and body["http"]["active"] == 0


async def test_openapi_document_is_valid_and_describes_each_graph(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    doc = (await client.get("/openapi.json")).json()
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for route in (
        "/graphs",
        "/healthz",
        "/readyz",
        "/metrics",
        "/stats",
        "/graphs/deal_review/invoke",
        "/graphs/deal_review/stream",
        "/graphs/memory_recall/invoke",
        "/dashboard",
        "/dashboard/data",
        "/threads",
        "/runs/wait",
        "/threads/{thread_id}/runs/{run_id}/cancel",
    ):
        assert route in paths
    # every route the app mounts is described, with its method (per graph where it is one)
    app = create_app(settings)
    graphs = ["deal_review", "memory_recall"]
    for route in app.routes:
        assert isinstance(route, ApiRoute), route
        method = route.method
        expanded = [route.path.replace("{name}", g) for g in graphs]
        for path in expanded if route.operation.per_graph else [route.path]:
            assert method in paths.get(path, {}), (method, path)
    body = paths["/graphs/deal_review/invoke"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["properties"]["deal_ids"]["maxItems"] == deal_review.MAX_DEALS
    assert {"200", "400", "422", "500", "503", "504"} <= set(
        paths["/graphs/deal_review/invoke"]["post"]["responses"]
    )


def test_a_route_without_an_operation_cannot_be_documented(settings: Settings) -> None:
    async def bare(request: Any) -> Any:
        raise AssertionError("never called")

    routes = [*create_app(settings).routes, Route("/bare", bare)]
    with pytest.raises(UndocumentedRouteError, match="/bare"):
        openapi_document(routes, [deal_review.SPEC])


async def test_openapi_bodies_come_from_the_models(client: httpx.AsyncClient) -> None:
    """The LangGraph API's bodies are described field by field, not as bare objects."""
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]

    def schema_of(path: str, method: str, status: str = "200") -> dict[str, Any]:
        content = doc["paths"][path][method]["responses"][status]["content"]
        ref = content["application/json"]["schema"]
        ref = ref.get("items", ref)["$ref"]
        return dict(schemas[ref.rsplit("/", 1)[1]])

    thread = schema_of("/threads", "post")
    assert thread["properties"]["status"]["enum"] == ["idle", "busy", "interrupted", "error"]
    assert {"thread_id", "created_at", "values"} <= set(thread["required"])
    run = schema_of("/threads/{thread_id}/runs/{run_id}", "get")
    assert set(run["properties"]["status"]["enum"]) == set(LANGGRAPH_STATUS.values())
    # lists that `select` may trim document every field as optional
    for path, method in (("/threads/{thread_id}/runs", "get"), ("/threads/search", "post")):
        selected = schema_of(path, method)
        assert "required" not in selected and "status" in selected["properties"]
    assert schema_of("/runs/wait", "post", "404")["required"] == ["detail"]
    assert schema_of("/graphs", "get", "200")["required"] == ["graphs"]
    body = doc["paths"]["/runs/wait"]["post"]["requestBody"]["content"]["application/json"]
    run_create = schemas[body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert run_create["required"] == ["assistant_id"]
    assert "multitask_strategy" in run_create["properties"]
