"""langgraph.json's factories and the examples, run against the small warehouse."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from graphs import Engine, langgraph_entry
from stores.demo.local_redis import free_port
from stores.settings import Settings
from tests.graphs.http_process import http_process

ROOT = Path(__file__).resolve().parents[2]


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_langgraph_json_names_existing_factories() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    targets = {**config["graphs"], "http.app": config["http"]["app"]}
    for target in targets.values():
        path, attr = target.rsplit(":", 1)
        module = importlib.import_module(
            path.removeprefix("./").removesuffix(".py").replace("/", ".")
        )
        assert callable(getattr(module, attr)) or hasattr(getattr(module, attr), "router")
    assert set(config["graphs"]) == set(Engine().graph_names())


async def test_bound_graph_runs_without_a_context(settings: Settings) -> None:
    async with Engine(settings) as engine:
        graph = langgraph_entry.bound_graph(engine, "deal_review")
        final = await graph.ainvoke({"deal_ids": ["D-00002"]})
        updates = [
            chunk
            async for chunk in graph.astream(
                {"deal_ids": ["D-00001"]}, stream_mode="updates", subgraphs=True
            )
        ]
    assert final["report"]["D-00002"]["health_score"] is not None
    assert final["errors"] == []
    inner = {node for ns, update in updates if ns for node in update}
    assert {"hubspot", "gong", "slack", "linear", "synthesis"} <= inner


async def test_factory_opens_the_shared_engine_from_the_environment(
    shared_engine: langgraph_entry.SharedEngine,
) -> None:
    async with langgraph_entry.deal_review({}) as first:
        result: dict[str, Any] = await first.ainvoke({})
    async with langgraph_entry.deal_review({}) as second:
        assert second is not first
    assert await shared_engine.get() is await shared_engine.get()  # one engine per process
    assert result["deal_ids"] == ["D-00001"]
    assert result["report"]["D-00001"]["health_score"] is not None


async def test_custom_workflow_example_runs(settings: Settings, capsys: Any) -> None:
    example = load_example("custom_workflow")
    result = await example.main(["D-00001", "D-00002", "D-99999"], settings)
    assert result["errors"] == []
    assert result["deals"]["D-99999"]["category"] == "omit"
    categories = {"commit", "best_case", "pipeline", "closed", "omit"}
    assert {d["category"] for d in result["deals"].values()} <= categories
    assert sum(result["totals"].values()) == pytest.approx(
        sum(d["amount"] for d in result["deals"].values())
    )
    assert "D-00002" in capsys.readouterr().out


async def test_platform_app_example_serves_health_and_review(settings: Settings) -> None:
    example = load_example("platform_app")
    app = example.build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://platform") as c:
            health = await c.get("/deals/D-00003/health")
            missing = await c.get("/deals/D-99999/health")
            review = await c.post("/pipeline/review", json={"deal_ids": ["D-00001", "D-00002"]})
            bad = await c.post("/pipeline/review", json={"deal_ids": []})
    assert health.status_code == 200 and 0 <= health.json()["health_score"] <= 100
    assert missing.status_code == 404
    scores = [row["health_score"] for row in review.json()["deals"]]
    assert scores == sorted(scores) and len(scores) == 2
    assert bad.status_code == 422


@pytest.mark.slow
def test_platform_app_runs_as_its_docstring_says_on_the_port_given(
    settings: Settings, tmp_path: Path
) -> None:
    """``python examples/platform_app.py --port P`` serves on P (the docstring's command)."""
    env = {
        **os.environ,
        "SOPHIA_DATA_DIR": str(settings.data_dir),
        "SOPHIA_WAREHOUSE_URL": settings.resolved_warehouse_url,
    }
    env.pop("SOPHIA_REDIS_URL", None)
    port = free_port()
    health = f"http://127.0.0.1:{port}/deals/D-00001/health"
    argv = [sys.executable, str(ROOT / "examples" / "platform_app.py"), "--port", str(port)]
    with http_process(argv, health, env=env, cwd=ROOT, log=tmp_path / "app.log"):
        assert httpx.get(health, timeout=30).json()["deal_id"] == "D-00001"
