"""The Engine end to end on a real DuckDB warehouse: results, errors, batching, streaming."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import redis.asyncio as aioredis
from langgraph.runtime import Runtime

from graphs import Engine, GraphRegistry
from graphs.engine.errors import InvalidInputError, UnknownGraphError
from graphs.workflows import deal_review
from nodes.context import Resources
from stores.errors import PoolTimeoutError, SophiaError
from stores.settings import Settings
from tests.conftest import RedisServer
from tests.graphs.graph_doubles import INVALID_INPUTS


def registry_with(
    agents: dict[str, Any], timeouts: dict[str, float] | None = None
) -> GraphRegistry:
    """A registry whose deal_review uses some replaced agents."""
    spec = dataclasses.replace(
        deal_review.SPEC, build=lambda: deal_review.build_graph(agents, timeouts=timeouts)
    )
    return GraphRegistry([spec])


async def test_review_of_one_deal_has_facts_analyses_and_report(settings: Settings) -> None:
    async with Engine(settings, configure_telemetry=True) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00003"]})
    assert result["errors"] == []
    assert result["status"] == "complete"
    deal = result["deals"]["D-00003"]
    assert deal["facts"]["hubspot"]["found"] is True
    assert deal["facts"]["gong"]["call_count"] >= 1
    assert set(deal["analysis"]) == {"sales_analysis", "communication_analysis", "project_analysis"}
    report = deal["report"]
    assert 0 <= report["health_score"] <= 100
    assert report["status"] in {"healthy", "watch", "at_risk"}
    assert len(result["run_id"]) == 32 and len(result["trace_id"]) == 32


async def test_empty_input_reviews_the_default_demo_deal(settings: Settings) -> None:
    async with Engine(settings) as engine:
        result = await engine.invoke("deal_review", {})
    assert result["deal_ids"] == ["D-00001"]
    assert result["deals"]["D-00001"]["report"]["health_score"] is not None


async def test_unknown_deal_is_reported_not_raised(settings: Settings) -> None:
    async with Engine(settings) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-99999"]})
    assert result["deals"]["D-99999"]["facts"]["hubspot"] == {"found": False}
    assert "deal not found in HubSpot" in result["deals"]["D-99999"]["report"]["reasons"]


async def test_unknown_graph_names_the_registered_ones(settings: Settings) -> None:
    async with Engine(settings) as engine:
        with pytest.raises(UnknownGraphError) as info:
            await engine.invoke("deal_reveiw", {})
    assert "deal_reveiw" in str(info.value) and "deal_review" in str(info.value)


@pytest.mark.parametrize(("payload", "field"), INVALID_INPUTS)
async def test_bad_input_names_the_field(settings: Settings, payload: Any, field: str) -> None:
    async with Engine(settings) as engine:
        with pytest.raises(InvalidInputError) as info:
            await engine.invoke("deal_review", payload)
    assert field in str(info.value)


async def test_engine_must_be_open(settings: Settings) -> None:
    engine = Engine(settings)
    with pytest.raises(SophiaError, match="not open"):
        await engine.invoke("deal_review", {})


async def test_missing_warehouse_says_how_to_seed(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=None)
    with pytest.raises(SophiaError, match="sophia seed"):
        async with Engine(settings):
            pass


async def test_reads_are_batched_per_source_not_per_deal(settings: Settings) -> None:
    """Reviewing 5 or 30 deals costs the same number of statements."""
    counts = []
    for deals in (5, 30):
        async with Engine(settings) as engine:
            before = engine.resources.warehouse.stats()["statements"]
            ids = [f"D-{i:05d}" for i in range(1, deals + 1)]
            result = await engine.invoke("deal_review", {"deal_ids": ids})
            assert set(result["deals"]) == set(ids)
            counts.append(engine.resources.warehouse.stats()["statements"] - before)
    assert counts[0] == counts[1]
    # 3 tables x 2 levels + deals + companies/contacts + the as-of epoch, at most
    assert counts[1] <= 11


async def test_agents_run_in_one_superstep_and_overlap(settings: Settings) -> None:
    """Four agents that each wait 300 ms overlap: the run takes ~one wait, not four."""

    def waiting(name: str) -> Any:
        async def agent(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
            await asyncio.sleep(0.3)
            return {name: {d: {"waited": True} for d in state["deal_ids"]}}

        return agent

    agents = {n: waiting(n) for n in ("hubspot", "gong", "slack", "linear")}
    async with Engine(settings, registry=registry_with(agents)) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})
    t = result["timings"]
    windows = [(t[n]["start_ms"], t[n]["end_ms"]) for n in agents]
    latest_start = max(s for s, _ in windows)
    earliest_end = min(e for _, e in windows)
    assert latest_start < earliest_end, f"agent windows do not overlap: {windows}"
    # every analysis starts after every agent ended (the next superstep)
    last_agent_end = max(e for _, e in windows)
    assert all(t[a]["start_ms"] >= last_agent_end for a in deal_review.ANALYSES)


async def test_one_agent_raising_leaves_an_error_and_keeps_the_rest(settings: Settings) -> None:
    async def broken(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        raise RuntimeError("gong API said no")

    async with Engine(settings, registry=registry_with({"gong": broken})) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    assert result["status"] == "partial"
    assert result["errors"] == [
        {"node": "gong", "error": "RuntimeError", "message": "gong API said no", "timed_out": False}
    ]
    deal = result["deals"]["D-00002"]
    assert deal["facts"]["gong"] is None
    assert deal["facts"]["hubspot"]["found"] is True
    assert deal["facts"]["slack"] is not None and deal["facts"]["linear"] is not None
    assert "gong data unavailable" in deal["report"]["reasons"]
    assert deal["report"]["failed_sources"] == ["gong"]


async def test_one_agent_timing_out_leaves_an_error_and_keeps_the_rest(settings: Settings) -> None:
    async def hanging(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        await asyncio.sleep(60)
        return {}

    registry = registry_with({"slack": hanging}, timeouts={"slack": 0.3})
    async with Engine(settings, registry=registry) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    assert [e["node"] for e in result["errors"]] == ["slack"]
    assert result["errors"][0]["timed_out"] is True
    assert result["timings"]["slack"]["duration_ms"] < 5_000
    deal = result["deals"]["D-00002"]
    assert deal["facts"]["slack"] is None and deal["facts"]["gong"] is not None
    assert deal["report"]["health_score"] is not None


async def test_stream_yields_node_updates_then_the_result(settings: Settings) -> None:
    async with Engine(settings) as engine:
        events = [e async for e in engine.stream("deal_review", {"deal_ids": ["D-00001"]})]
    nodes = [e["node"] for e in events if e["event"] == "update"]
    assert set(nodes[:5]) == {"hubspot", "gong", "slack", "linear", "memory"}
    assert set(nodes[5:8]) == set(deal_review.ANALYSES)
    assert nodes[-1] == "synthesis"
    assert events[-1]["event"] == "end"
    assert events[-1]["result"]["deals"]["D-00001"]["report"]["health_score"] is not None


async def test_concurrent_invocations_share_one_engine(settings: Settings) -> None:
    async with Engine(settings) as engine:
        results = await asyncio.gather(
            *(engine.invoke("deal_review", {"deal_ids": [f"D-{i:05d}"]}) for i in range(1, 11))
        )
        stats = engine.resources.warehouse.stats()
    assert [r["deal_ids"][0] for r in results] == [f"D-{i:05d}" for i in range(1, 11)]
    assert len({r["run_id"] for r in results}) == 10
    assert stats["in_use"] == 0


async def test_a_transient_agent_failure_is_retried_once(settings: Settings) -> None:
    calls = 0

    async def flaky(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("connection reset by peer")
        return {
            "gong": {
                d: {"call_count": 0, "calls_last_30_days": 0, "open_risks": []}
                for d in state["deal_ids"]
            }
        }

    async with Engine(settings, registry=registry_with({"gong": flaky})) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    assert calls == 2
    assert result["errors"] == [] and result["status"] == "complete"


async def test_a_persistent_transient_failure_ends_as_an_error_entry(settings: Settings) -> None:
    calls = 0

    async def down(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("linear API refused the connection")

    async with Engine(settings, registry=registry_with({"linear": down})) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    assert calls == deal_review.AGENT_RETRY.attempts
    assert [e["node"] for e in result["errors"]] == ["linear"]
    assert result["errors"][0]["error"] == "ConnectionRefusedError"


async def test_a_programming_error_is_not_retried(settings: Settings) -> None:
    calls = 0

    async def buggy(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise KeyError("amount")

    async with Engine(settings, registry=registry_with({"hubspot": buggy})) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    assert calls == 1
    assert result["errors"][0]["node"] == "hubspot"


async def test_a_timeout_raised_inside_a_node_is_not_reported_as_the_node_timeout(
    settings: Settings,
) -> None:
    async def pool_timeout(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        raise PoolTimeoutError("no pooled connection within 0.1s")

    registry = registry_with({"slack": pool_timeout}, timeouts={"slack": 30})
    async with Engine(settings, registry=registry) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00002"]})
    (err,) = result["errors"]
    assert err["node"] == "slack" and err["timed_out"] is False
    assert err["error"] == "PoolTimeoutError"


async def test_gc_freeze_moves_the_loaded_objects_out_of_collections(settings: Settings) -> None:
    import gc

    before = gc.get_freeze_count()
    try:
        async with Engine(settings, freeze_gc=True):
            assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


async def test_with_redis_the_row_cache_takes_load_locks(
    settings: Settings, disposable_redis: RedisServer
) -> None:
    """SOPHIA_CACHE_LOAD_LOCK_S reaches the cache; the locks are released after a review."""
    locked = settings.model_copy(
        update={"redis_url": disposable_redis.url, "cache_load_lock_s": 2.5}
    )
    async with Engine(locked) as engine:
        cache = engine.resources.cache
        assert cache is not None and cache.lock_ttl_s == 2.5
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00003"]})
        assert result["errors"] == []
        assert cache.stats()["namespaces"]["queries"]["misses"] > 0
    async with aioredis.Redis.from_url(disposable_redis.url) as raw:
        assert [k async for k in raw.scan_iter(match="*:lock")] == []
        assert [k async for k in raw.scan_iter(match="sophia:queries:*")] != []
    for off in (locked.model_copy(update={"cache_load_lock_s": 0.0}), settings):  # 0, no Redis
        async with Engine(off) as engine:
            assert engine.resources.cache is not None
            assert engine.resources.cache.lock_ttl_s == 0.0
