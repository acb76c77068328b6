"""TieredCache spans and metrics (real OTel SDK), and Redis calls through the real Guard."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stores.cache.tiered import TieredCache
from stores.resilience.breaker import CircuitBreaker
from stores.resilience.guards import Guard
from tests.conftest import RedisServer
from tests.stores.metric_points import metric_points


async def test_span_events_and_metrics_name_namespace_and_tier(
    redis_server: RedisServer, key_prefix: str
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])

    async def loader() -> str:
        return "v"

    tracer = tracer_provider.get_tracer("tests.cache")
    async with TieredCache(
        redis_server.url, key_prefix=key_prefix, meter_provider=meter_provider
    ) as cache:
        with tracer.start_as_current_span("caller"):  # look-ups are events on the caller's span
            await cache.get_or_load("k", "api", loader)  # miss -> loader
            await cache.get_or_load("k", "api", loader)  # L1
            cache.l1.clear()
            await cache.get_many(["k"], "api")  # L2
            await cache.get_many(["k", "absent"], "api")  # a miss in the batch
            await cache.delete("k", "api")

        (caller,) = exporter.get_finished_spans()  # no span of the cache's own
        tiers = [
            (e.name, e.attributes["sophia.cache.namespace"], e.attributes["sophia.cache.tier"])
            for e in caller.events
            if e.attributes is not None
        ]
        assert tiers == [
            ("cache.get_or_load", "api", "miss"),
            ("cache.get_or_load", "api", "l1"),
            ("cache.get_many", "api", "l2"),
            ("cache.get_many", "api", "miss"),
        ]
        requests = {
            (p.attributes["sophia.cache.tier"]): p.value
            for p in metric_points(reader, "sophia.cache.requests")
            if p.attributes["sophia.cache.namespace"] == "api"
        }
        assert requests == {"l1": 2, "l2": 1, "miss": 2, "coalesced": 0}
        loads = metric_points(reader, "sophia.cache.loader_calls")
        assert [p.value for p in loads] == [1]
        durations = metric_points(reader, "sophia.cache.duration")
        assert sum(p.count for p in durations) == 4
        assert [p.value for p in metric_points(reader, "sophia.cache.l1.entries")] == [0]
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def test_open_circuit_from_the_guard_means_redis_unavailable(
    disposable_redis: RedisServer, key_prefix: str
) -> None:
    breaker = CircuitBreaker("redis", minimum_calls=2, window_size=4, open_wait_s=60)
    guard = Guard("redis", breaker, retry=None, timeout_s=0.5)
    calls: list[int] = []

    async def loader() -> str:
        calls.append(1)
        return "loaded"

    async with TieredCache(
        disposable_redis.url, key_prefix=key_prefix, guard=guard, backoff_s=0.0
    ) as cache:
        await cache.set("k", "v", "api")
        assert guard.stats()["runs"] >= 2  # the ping and the set went through the guard
        disposable_redis.stop()
        for i in range(6):  # failures open the breaker; then it fails fast
            assert await cache.get_or_load(f"x{i}", "api", loader) == "loaded"
        assert breaker.state == "open"
        redis_stats = cache.stats()["redis"]
        assert "CircuitOpenError" in (redis_stats["last_error"] or "")
        assert redis_stats["retry_in_s"] > 30  # the breaker's own wait, not our 0 s back-off
        assert await cache.get("k", "api") == "v"  # L1 still serves
        assert len(calls) == 6


async def test_look_ups_under_a_node_span_are_totals_of_it_not_events(
    redis_server: RedisServer, key_prefix: str, span_exporter: Any
) -> None:
    import telemetry

    async def loader() -> str:
        return "v"

    async with TieredCache(redis_server.url, key_prefix=key_prefix) as cache:
        with telemetry.node_span("agent"):
            await cache.get_or_load("k", "api", loader)  # miss -> loader
            await cache.get_or_load("k", "api", loader)  # L1
            cache.l1.clear()
            await cache.get_many(["k", "absent"], "api")  # one L2 hit, one miss
        with telemetry.node_span("idle"):
            pass
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    agent = spans["agent"]
    assert not agent.events
    totals = {k: v for k, v in agent.attributes.items() if k.startswith("sophia.cache.")}
    assert totals.pop("sophia.cache.duration_ms") > 0
    assert totals == {  # zero counts (coalesced) are left out
        "sophia.cache.lookups": 3,
        "sophia.cache.l1_hits": 1,
        "sophia.cache.l2_hits": 1,
        "sophia.cache.misses": 2,
    }
    assert not [k for k in spans["idle"].attributes if k.startswith("sophia.cache.")]
