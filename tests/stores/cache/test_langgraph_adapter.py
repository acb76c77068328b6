"""The LangGraph adapter: node CachePolicy results live in both tiers of TieredCache."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import redis.asyncio as aioredis
from langgraph.cache.base import BaseCache
from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy

from stores.cache.tiered import TieredCache
from tests.conftest import RedisServer


class State(TypedDict, total=False):
    x: int
    y: int


def build(runs: list[int], ttl: int | None = None, sync: bool = False) -> Any:
    async def expensive(state: State) -> State:
        runs.append(state["x"])
        return {"y": state["x"] * 2}

    def expensive_sync(state: State) -> State:
        runs.append(state["x"])
        return {"y": state["x"] * 2}

    graph = StateGraph(State)
    node = expensive_sync if sync else expensive
    graph.add_node("expensive", node, cache_policy=CachePolicy(ttl=ttl))
    graph.add_edge(START, "expensive")
    graph.add_edge("expensive", END)
    return graph


async def test_cached_node_runs_once_for_two_invokes(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    runs: list[int] = []
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        lg_cache = cache.as_langgraph_cache()
        assert isinstance(lg_cache, BaseCache)
        app = build(runs, ttl=60).compile(cache=lg_cache)
        assert await app.ainvoke({"x": 3}) == {"x": 3, "y": 6}
        assert await app.ainvoke({"x": 3}) == {"x": 3, "y": 6}
        assert runs == [3]
        assert await app.ainvoke({"x": 4}) == {"x": 4, "y": 8}
        assert runs == [3, 4]
        keys = [k async for k in raw_redis.scan_iter(match=f"{key_prefix}langgraph:*")]
        assert len(keys) == 2
        assert 0 < await raw_redis.pttl(keys[0]) <= 60_000  # the CachePolicy ttl

    # A new process (fresh L1) sharing the Redis: the node result comes from L2.
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache2:
        app2 = build(runs, ttl=60).compile(cache=cache2.as_langgraph_cache())
        assert await app2.ainvoke({"x": 3}) == {"x": 3, "y": 6}
        assert runs == [3, 4]
        assert cache2.stats()["namespaces"]["langgraph"]["l2"]["hits"] == 1


async def test_policy_without_ttl_gets_the_namespace_ttl(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    runs: list[int] = []
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        app = build(runs).compile(cache=cache.as_langgraph_cache("graphcache", ttl_s=120))
        await app.ainvoke({"x": 1})
        keys = [k async for k in raw_redis.scan_iter(match=f"{key_prefix}graphcache:*")]
        assert len(keys) == 1 and 0 < await raw_redis.pttl(keys[0]) <= 120_000


async def test_clear_removes_cached_node_results(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    runs: list[int] = []
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        lg_cache = cache.as_langgraph_cache()
        app = build(runs, ttl=60).compile(cache=lg_cache)
        await app.ainvoke({"x": 5})
        await app.aclear_cache()
        assert [k async for k in raw_redis.scan_iter(match=f"{key_prefix}langgraph:*")] == []
        await app.ainvoke({"x": 5})
        assert runs == [5, 5]


async def test_sync_invoke_from_a_worker_thread_uses_both_tiers(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    runs: list[int] = []
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        app = build(runs, ttl=60, sync=True).compile(cache=cache.as_langgraph_cache())
        assert await asyncio.to_thread(app.invoke, {"x": 7}) == {"x": 7, "y": 14}
        await asyncio.sleep(0.05)  # LangGraph writes the cache entry in the background
        assert await asyncio.to_thread(app.invoke, {"x": 7}) == {"x": 7, "y": 14}
        assert runs == [7]
        keys = [k async for k in raw_redis.scan_iter(match=f"{key_prefix}langgraph:*")]
        assert len(keys) == 1  # written through to Redis from the worker thread


async def test_sync_calls_on_the_loop_thread_fall_back_to_l1(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        lg_cache = cache.as_langgraph_cache()
        key = (("__pregel_ns_writes", "node"), "abc")
        writes = [("y", 1)]
        as_serde_returns = lg_cache.serde.loads_typed(lg_cache.serde.dumps_typed(writes))
        lg_cache.set({key: (writes, 30)})  # on the loop's thread: no deadlock, L1 only
        assert lg_cache.get([key]) == {key: as_serde_returns}
        assert [k async for k in raw_redis.scan_iter(match=f"{key_prefix}*")] == []
        lg_cache.clear([("__pregel_ns_writes",)])
        assert lg_cache.get([key]) == {}
