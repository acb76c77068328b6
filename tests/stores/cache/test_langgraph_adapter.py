"""The LangGraph adapter: node CachePolicy results live in both tiers of TieredCache."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypedDict

import pytest
import redis.asyncio as aioredis
from langgraph.cache.base import BaseCache
from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy

from stores.cache import langgraph_adapter
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


async def test_sync_calls_on_the_loop_thread_use_l1_then_reach_redis_in_order(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        lg_cache = cache.as_langgraph_cache()
        key = (("__pregel_ns_writes", "node"), "abc")
        writes = [("y", 1)]
        as_serde_returns = lg_cache.serde.loads_typed(lg_cache.serde.dumps_typed(writes))
        lg_cache.set({key: (writes, 30)})  # on the loop's thread: no deadlock, L1 at once
        assert lg_cache.get([key]) == {key: as_serde_returns}
        found = await _until(lambda: _keys(raw_redis, key_prefix), lambda k: len(k) == 1)
        assert len(found) == 1
        lg_cache.set({key: (writes, 30)})
        lg_cache.clear([("__pregel_ns_writes",)])  # made after the set: lands after it
        assert lg_cache.get([key]) == {}
        assert await _until(lambda: _keys(raw_redis, key_prefix), lambda k: k == []) == []
        await asyncio.sleep(0.2)  # nothing deferred is still to land and resurrect it
        assert await _keys(raw_redis, key_prefix) == []


async def test_blocking_invoke_on_the_loop_thread_caches_without_waiting_on_the_loop(
    redis_server: RedisServer, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    # A blocking graph.invoke inside async code: LangGraph writes the cache from its
    # background thread while this (the loop's) thread is blocked. The write used to be
    # queued on the blocked loop and waited out: TimeoutError after 5 s.
    runs: list[int] = []
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        app = build(runs, ttl=60, sync=True).compile(cache=cache.as_langgraph_cache())
        assert app.invoke({"x": 5}) == {"x": 5, "y": 10}
        assert app.invoke({"x": 5}) == {"x": 5, "y": 10}  # served from the L1
        assert runs == [5]
        # Once the loop is free the deferred write reaches Redis: a fresh process
        # (a new L1 on the same Redis) finds the node's result there.
        found = await _until(lambda: _keys(raw_redis, key_prefix), lambda k: len(k) == 1)
        assert len(found) == 1
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as fresh:
        app2 = build(runs, ttl=60, sync=True).compile(cache=fresh.as_langgraph_cache())
        assert await asyncio.to_thread(app2.invoke, {"x": 5}) == {"x": 5, "y": 10}
        assert runs == [5]


async def test_sync_get_from_a_thread_while_the_loop_is_blocked_answers_from_l1(
    redis_server: RedisServer, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(langgraph_adapter, "SYNC_TIMEOUT_S", 0.1)
    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        lg_cache = cache.as_langgraph_cache()
        key, other = (("__pregel_ns_writes", "node"), "abc"), (("__pregel_ns_writes",), "no")
        await lg_cache.aset({key: ([("y", 1)], 30)})
        answers: list[Any] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                answers.append(lg_cache.get([key, other]))
            except BaseException as exc:  # the old adapter raised TimeoutError here
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        reader.join()  # blocks this, the loop's, thread without touching the cache
        assert errors == []
        assert list(answers[0]) == [key]


async def _keys(raw_redis: aioredis.Redis, key_prefix: str) -> list[Any]:
    return [k async for k in raw_redis.scan_iter(match=f"{key_prefix}langgraph:*")]


async def _until(read: Any, done: Any, deadline_s: float = 30.0) -> Any:
    """Poll `read()` until `done(value)`, for at most `deadline_s` (a loaded machine)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        value = await read()
        if done(value) or loop.time() > end:
            return value
        await asyncio.sleep(0.02)
