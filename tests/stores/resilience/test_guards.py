"""Guards (retry around breaker around timeout) and the per-dependency registry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stores.resilience.breaker import BreakerSettings, BreakerState, CircuitBreaker
from stores.resilience.call_guard import CallGuard
from stores.resilience.errors import CircuitOpenError, DependencyTimeoutError
from stores.resilience.guards import (
    DEFAULT_GUARDS,
    Guard,
    GuardSettings,
    ResilienceRegistry,
)
from stores.resilience.retry import RetrySettings
from stores.settings import Settings
from stores.warehouse.errors import QueryError


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def no_sleep(seconds: float) -> None:
    """Retry waits cost nothing in these tests."""


class Dependency:
    """A fake remote: fails with ``error`` while ``down``, counts calls."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls = 0

    async def __call__(self, value: str = "ok") -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return value


def make_guard(
    clock: FakeClock,
    *,
    attempts: int | None = 3,
    timeout_s: float | None = None,
    minimum_calls: int = 4,
) -> Guard:
    breaker = CircuitBreaker(
        "dep", clock=clock, minimum_calls=minimum_calls, window_size=10, open_wait_s=5.0
    )
    retry = None if attempts is None else RetrySettings(attempts=attempts, total_s=60.0)
    return Guard("dep", breaker, retry, timeout_s, sleep=no_sleep)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_guard_is_a_call_guard(clock: FakeClock) -> None:
    guard: CallGuard = make_guard(clock)
    assert guard.name == "dep"


async def test_passes_arguments_and_results(clock: FakeClock) -> None:
    guard = make_guard(clock)
    dep = Dependency()
    assert await guard.run(dep, value="rows") == "rows"
    assert dep.calls == 1


async def test_retries_transient_errors_and_the_breaker_sees_every_attempt(
    clock: FakeClock,
) -> None:
    guard = make_guard(clock, attempts=3, minimum_calls=10)
    flaky_calls = 0

    async def flaky() -> str:
        nonlocal flaky_calls
        flaky_calls += 1
        if flaky_calls < 3:
            raise ConnectionResetError("reset by peer")
        return "ok"

    assert await guard.run(flaky) == "ok"
    stats = guard.stats()
    assert stats["runs"] == 1 and stats["attempts"] == 3 and stats["retries"] == 2
    assert stats["breaker"]["failures"] == 2 and stats["breaker"]["successes"] == 1


async def test_does_not_retry_non_transient_errors(clock: FakeClock) -> None:
    guard = make_guard(clock, attempts=5)
    dep = Dependency(QueryError("syntax error"))
    with pytest.raises(QueryError):
        await guard.run(dep)
    assert dep.calls == 1
    assert guard.breaker.stats()["failures"] == 0  # the dependency answered


async def test_breaker_opening_mid_retry_stops_the_retries(clock: FakeClock) -> None:
    guard = make_guard(clock, attempts=10, minimum_calls=3)
    dep = Dependency(ConnectionRefusedError("refused"))
    with pytest.raises(CircuitOpenError) as info:
        await guard.run(dep)
    assert dep.calls == 3  # the fourth attempt met an open breaker and was not retried
    assert guard.breaker.state is BreakerState.OPEN
    assert info.value.name == "dep"


async def test_open_breaker_fails_fast_without_calling(clock: FakeClock) -> None:
    guard = make_guard(clock, attempts=5, minimum_calls=3)
    with pytest.raises(CircuitOpenError):
        await guard.run(Dependency(ConnectionRefusedError()))
    dep = Dependency()
    for _ in range(20):
        with pytest.raises(CircuitOpenError):
            await guard.run(dep)
    assert dep.calls == 0
    assert guard.stats()["breaker"]["rejections"] == 21
    clock.advance(5.0)
    assert await guard.run(dep) == "ok"  # a trial call goes through


async def test_timeout_is_per_attempt_and_counts_as_failure(clock: FakeClock) -> None:
    guard = make_guard(clock, attempts=None, timeout_s=0.05, minimum_calls=2)

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    for _ in range(2):
        with pytest.raises(DependencyTimeoutError) as info:
            await guard.run(hang)
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value.__cause__, TimeoutError)
        assert "dep" in str(info.value) and "0.05" in str(info.value)
    assert guard.breaker.state is BreakerState.OPEN
    assert guard.stats()["timeouts"] == 2
    assert guard.breaker.stats()["failures"] == 2


async def test_timeouts_are_retried_each_with_a_fresh_deadline(clock: FakeClock) -> None:
    guard = make_guard(clock, attempts=3, timeout_s=0.05, minimum_calls=10)
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            await asyncio.Event().wait()
        return "ok"

    assert await guard.run(slow_then_fast) == "ok"
    assert guard.stats()["timeouts"] == 2


async def test_the_callables_own_timeout_error_is_not_rewritten(clock: FakeClock) -> None:
    guard = make_guard(clock, attempts=None, timeout_s=10.0)
    with pytest.raises(TimeoutError) as info:
        await guard.run(Dependency(TimeoutError("socket read timed out")))
    assert not isinstance(info.value, DependencyTimeoutError)
    assert guard.stats()["timeouts"] == 0


async def test_cancelling_a_guarded_call_is_not_a_failure(clock: FakeClock) -> None:
    guard = make_guard(clock, minimum_calls=1)

    async def hang() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(guard.run(hang))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert guard.breaker.state is BreakerState.CLOSED
    assert guard.breaker.stats()["cancelled"] == 1


# -- the registry ----------------------------------------------------------------------


def test_registry_makes_one_guard_per_dependency(clock: FakeClock) -> None:
    registry = ResilienceRegistry(clock=clock)
    assert registry.guard("warehouse") is registry.guard("warehouse")
    assert registry.guard("redis") is not registry.guard("warehouse")
    assert registry.breaker("redis") is registry.guard("redis").breaker
    assert registry.guard("warehouse").timeout_s == DEFAULT_GUARDS["warehouse"].timeout_s
    assert registry.guard("redis").retry == DEFAULT_GUARDS["redis"].retry
    llm = registry.guard("llm:gpt-4o")
    assert llm.timeout_s == DEFAULT_GUARDS["llm"].timeout_s
    assert llm.breaker.settings == DEFAULT_GUARDS["llm"].breaker
    assert registry.guard("llm:claude") is not llm
    assert registry.guard("geocoder").timeout_s == DEFAULT_GUARDS["default"].timeout_s


def test_default_open_waits_allow_recovery_within_30s() -> None:
    for name, settings in DEFAULT_GUARDS.items():
        assert settings.breaker.max_open_wait_s < 30.0, name


def test_registry_overrides_and_settings(clock: FakeClock) -> None:
    fast = GuardSettings(BreakerSettings(minimum_calls=1, window_size=1), None, 1.0)
    registry = ResilienceRegistry({"llm": fast, "redis": fast}, clock=clock)
    assert registry.guard("llm:any").retry is None
    assert registry.guard("redis").timeout_s == 1.0
    settings = Settings(warehouse_attempt_timeout_s=7.5, warehouse_attempts=1, query_timeout_s=7)
    warehouse = ResilienceRegistry.from_settings(settings, clock=clock).guard("warehouse")
    assert warehouse.timeout_s == 7.5
    assert warehouse.retry is not None and warehouse.retry.attempts == 1


def test_the_warehouse_guard_gives_up_before_the_node_does() -> None:
    """Otherwise the node's timeout cancels the call first, which the breaker ignores."""
    for settings in (
        Settings(),
        Settings(node_timeout_s=5.0, query_timeout_s=2.0, warehouse_attempt_timeout_s=2.2),
        Settings(node_timeout_s=60, warehouse_attempts=5, warehouse_attempt_timeout_s=11),
    ):
        guard = ResilienceRegistry.from_settings(settings).guard("warehouse")
        assert guard.timeout_s is not None and guard.retry is not None
        attempts = guard.retry.attempts
        worst = attempts * guard.timeout_s + (attempts - 1) * guard.retry.max_s
        assert worst < settings.node_timeout_s
        assert settings.query_timeout_s < guard.timeout_s
        assert guard.retry.total_s >= worst  # the time bound never cuts an attempt short


async def test_breakers_are_independent_and_listeners_reach_all(clock: FakeClock) -> None:
    fast = GuardSettings(BreakerSettings(minimum_calls=2, window_size=4), None, None)
    registry = ResilienceRegistry({"warehouse": fast, "redis": fast}, clock=clock)
    registry.guard("warehouse")  # exists before the listener is added
    events: list[tuple[str, str]] = []
    registry.add_listener(lambda name, _old, new: events.append((name, new.value)))
    for _ in range(2):
        with pytest.raises(ConnectionResetError):
            await registry.guard("warehouse").run(Dependency(ConnectionResetError()))
    assert registry.breaker("redis").state is BreakerState.CLOSED
    assert await registry.guard("redis").run(Dependency()) == "ok"
    with pytest.raises(ConnectionResetError):  # 1 of 2 failed: 50% opens it
        await registry.guard("redis").run(Dependency(ConnectionResetError()))
    assert events == [("warehouse", "open"), ("redis", "open")]
    assert registry.states() == {"warehouse": BreakerState.OPEN, "redis": BreakerState.OPEN}
    stats: dict[str, Any] = registry.stats()
    assert set(stats) == {"redis", "warehouse"}
    assert stats["redis"]["breaker"]["state"] == "open"
    assert stats["redis"]["runs"] == 2 and stats["warehouse"]["errors"] == 2


# -- faults with real parts --------------------------------------------------------------


def quick_redis_registry(clock: FakeClock, *, timeout_s: float) -> ResilienceRegistry:
    """A registry whose redis guard trips after 3 calls, waits 2 s open, retries once."""
    redis_guard = GuardSettings(
        BreakerSettings(minimum_calls=3, window_size=6, open_wait_s=2.0, half_open_permits=2),
        RetrySettings(attempts=2, initial_s=0.01, max_s=0.02),
        timeout_s,
    )
    return ResilienceRegistry({"redis": redis_guard}, clock=clock, sleep=no_sleep)


async def test_redis_stopped_opens_the_breaker_and_restarted_closes_it(
    clock: FakeClock, disposable_redis: Any, key_prefix: str
) -> None:
    """A real redis-server, stopped and started again under a guarded client."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    registry = quick_redis_registry(clock, timeout_s=1.0)
    guard = registry.guard("redis")
    client_calls = 0

    async with Redis.from_url(
        disposable_redis.url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    ) as client:

        async def get(key: str) -> Any:
            nonlocal client_calls
            client_calls += 1
            return await client.get(key)

        await guard.run(client.set, f"{key_prefix}k", b"v")
        assert await guard.run(get, f"{key_prefix}k") == b"v"

        disposable_redis.stop()
        failures: list[str] = []
        for _ in range(4):
            try:
                await guard.run(get, f"{key_prefix}k")
            except Exception as exc:
                failures.append(type(exc).__name__)
        assert guard.breaker.state is BreakerState.OPEN
        assert failures[0] == "ConnectionError"  # redis' own, retried once then re-raised
        assert failures[-1] == "CircuitOpenError"
        calls_when_open = client_calls
        with pytest.raises(CircuitOpenError):
            await guard.run(get, f"{key_prefix}k")
        assert client_calls == calls_when_open  # fail fast: the client was not called

        disposable_redis.start()
        clock.advance(2.0)
        for _ in range(2):  # the two half-open trials
            await guard.run(client.set, f"{key_prefix}k", b"again")
        assert guard.breaker.state is BreakerState.CLOSED
        assert await guard.run(get, f"{key_prefix}k") == b"again"


@pytest.mark.parametrize("mode", ["error", "hang"])
async def test_failing_warehouse_emulator_opens_then_recovers(
    clock: FakeClock, emulator: Any, mode: str
) -> None:
    """The real snowflake connector against the emulator, broken and then recovered."""
    from stores.warehouse.warehouse import Warehouse

    settings = GuardSettings(
        BreakerSettings(minimum_calls=2, window_size=4, open_wait_s=5.0, half_open_permits=2),
        RetrySettings(attempts=2, initial_s=0.01, max_s=0.02),
        10.0,  # generous while the pool logs in on a busy machine
    )
    registry = ResilienceRegistry({"warehouse": settings}, clock=clock, sleep=no_sleep)
    guard = registry.guard("warehouse")
    try:
        async with Warehouse.open(
            emulator.url, guard=guard, min_size=1, max_size=2, close_timeout_s=2.0
        ) as wh:
            assert await wh.query("select count(*) as n from deals") == [{"n": 3000}]
            guard.timeout_s = 0.5  # the emulator answers in ms; a broken one never does
            emulator.fail(mode)
            errors = []
            for _ in range(4):
                with pytest.raises(Exception) as info:
                    await wh.query("select 1 as x")
                errors.append(info.value)
            assert guard.breaker.state is BreakerState.OPEN
            assert guard.stats()["timeouts"] >= 1
            # Open: the emulator sees no statement and no login from us any more.
            seen = (emulator.statements, emulator.logins)
            for _ in range(5):  # the open breaker's own error, not wrapped by the pool
                with pytest.raises(CircuitOpenError, match="circuit breaker 'warehouse'"):
                    await wh.query("select 1 as x")
            assert (emulator.statements, emulator.logins) == seen

            emulator.recover()
            guard.timeout_s = 10.0  # the released backlog may make the first login slow
            clock.advance(5.0)
            assert await wh.query("select 1 as x") == [{"x": 1}]
            assert await wh.query("select 2 as x") == [{"x": 2}]
            assert guard.breaker.state is BreakerState.CLOSED
    finally:
        emulator.recover()


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    while exc is not None:
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def test_cache_serves_l1_while_redis_is_down_and_uses_l2_again_after(
    clock: FakeClock, disposable_redis: Any, key_prefix: str
) -> None:
    """`TieredCache` with the registry's redis guard; Redis stopped mid-way, then back."""
    from redis.asyncio import Redis

    from stores.cache.tiered import TieredCache

    registry = quick_redis_registry(clock, timeout_s=0.5)
    guard = registry.guard("redis")
    loads: list[str] = []

    def loader(key: str) -> Any:
        async def load() -> dict[str, str]:
            loads.append(key)
            return {"deal": key}

        return load

    async with TieredCache(
        disposable_redis.url,
        key_prefix=key_prefix,
        guard=guard,
        backoff_s=0.01,
        max_backoff_s=0.02,
    ) as cache:
        for i in range(10):
            await cache.get_or_load(f"d{i}", "queries", loader(f"d{i}"))
        assert len(loads) == 10

        disposable_redis.stop()
        results = []
        for i in range(50):  # half cached in L1, half new: every call must still answer
            key = f"d{i % 20}"
            results.append(await cache.get_or_load(key, "queries", loader(key)))
            await asyncio.sleep(0.005)  # let the cache's own back-off expire now and then
        assert results == [{"deal": f"d{i % 20}"} for i in range(50)]
        assert loads.count("d0") == 1  # L1 kept serving what it had
        assert guard.breaker.state is BreakerState.OPEN
        assert guard.stats()["breaker"]["rejections"] > 0

        disposable_redis.start()
        clock.advance(2.0)
        i = 0
        while guard.breaker.state is not BreakerState.CLOSED and i < 500:
            await cache.get_or_load(f"after{i}", "queries", loader(f"after{i}"))
            await asyncio.sleep(0.01)
            i += 1
        assert guard.breaker.state is BreakerState.CLOSED
        await cache.set("fresh", {"deal": "fresh"}, "queries")

    # L2 is used again: the value is in Redis, and a new cache (empty L1) reads it there.
    async with Redis.from_url(disposable_redis.url) as raw:
        assert await raw.exists(cache.redis_key("fresh", "queries")) == 1
    async with TieredCache(disposable_redis.url, key_prefix=key_prefix) as second:
        assert await second.get("fresh", "queries") == {"deal": "fresh"}
        assert second.stats()["namespaces"]["queries"]["l2"]["hits"] == 1


async def test_with_a_guard_the_cache_leaves_back_off_to_the_breaker(
    clock: FakeClock, disposable_redis: Any, key_prefix: str
) -> None:
    """Every L1 miss reaches the guard (none is skipped by a back-off of the cache's own),
    so the breaker opens on the first failures; its trial calls bring L2 back at once,
    long before the cache's own back-off (60 s here) would have allowed a try."""
    from stores.cache.tiered import TieredCache

    breaker = CircuitBreaker("redis", clock=clock, minimum_calls=3, window_size=3, open_wait_s=2.0)
    guard = Guard("redis", breaker, None, 0.5)

    async def load() -> str:
        return "loaded"

    async with TieredCache(
        disposable_redis.url, key_prefix=key_prefix, guard=guard, backoff_s=60.0,
        max_backoff_s=60.0,
    ) as cache:  # fmt: skip
        disposable_redis.stop()
        for i in range(3):
            assert await cache.get_or_load(f"k{i}", "api", load) == "loaded"
        redis = cache.stats()["redis"]
        assert breaker.state is BreakerState.OPEN
        assert redis["skipped_calls"] == 0 and redis["backoff"] == "breaker"
        calls = breaker.stats()["calls"]
        assert await cache.get("k9", "api") is None  # fails fast: rejected, not called
        assert breaker.stats()["calls"] == calls
        assert cache.stats()["redis"]["rejected_by_breaker"] >= 1

        disposable_redis.start()
        clock.advance(2.0)  # the breaker's wait, not the cache's 60 s
        for i in range(2):  # the two half-open trials
            await cache.set(f"back{i}", "v", "api")
        assert breaker.state is BreakerState.CLOSED
        assert cache.stats()["redis"]["state"] == "up"
        cache.l1.clear(cache.redis_key("", "api"))
        assert await cache.get("back0", "api") == "v"  # from L2
        assert cache.stats()["namespaces"]["api"]["l2"]["hits"] == 1


# -- the whole engine ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A DuckDB file with the SMALL demo dataset."""
    from stores.demo import data as demo_data

    path = tmp_path_factory.mktemp("resilience-wh") / "warehouse.duckdb"
    demo_data.write_duckdb(path, demo_data.generate(demo_data.SMALL))
    return f"duckdb:///{path}"


async def _reviews_with_redis_stopped(
    engine: Any, redis: Any, runs: int = 50, stop_after: int = 10
) -> list[dict[str, Any]]:
    deal_ids = [f"D-{i:05d}" for i in range(1, 41)]
    results = []
    for i in range(runs):
        if i == stop_after:
            redis.stop()
        results.append(await engine.invoke("deal_review", {"deal_ids": [deal_ids[i % 40]]}))
    return results


@pytest.mark.slow
async def test_engine_completes_every_review_while_redis_is_down(
    tmp_path: Any, small_warehouse_url: str, disposable_redis: Any
) -> None:
    """50 deal reviews, Redis stopped after 10: all complete; L2 comes back after restart."""
    from graphs.engine.engine import Engine

    settings = Settings(
        data_dir=tmp_path / "data",
        warehouse_url=small_warehouse_url,
        redis_url=disposable_redis.url,
        node_timeout_s=5.0,
        query_timeout_s=2.0,
        warehouse_attempt_timeout_s=2.2,
    )
    async with Engine(settings, configure_telemetry=False) as engine:
        results = await _reviews_with_redis_stopped(engine, disposable_redis)
        assert [r["status"] for r in results] == ["complete"] * 50
        assert all(r["errors"] == [] and r["deals"] for r in results)
        cache = engine.stats()["cache"]
        assert cache["redis"]["state"] == "down"
        assert cache["namespaces"]["queries"]["l1"]["hits"] > 0  # L1 kept serving

        disposable_redis.start()
        # Every demo deal is in L1 now; unknown deals miss it and so reach for Redis.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        probe = 0
        while engine.stats()["cache"]["redis"]["state"] != "up":
            assert loop.time() < deadline, engine.stats()["cache"]["redis"]
            probe += 1
            result = await engine.invoke("deal_review", {"deal_ids": [f"D-9{probe:04d}"]})
            assert result["status"] == "complete"
            await asyncio.sleep(0.2)
        assert engine.guards is not None
        assert engine.guards.breaker("redis").state is BreakerState.CLOSED


async def test_engine_redis_breaker_opens_during_the_outage(
    tmp_path: Any, small_warehouse_url: str, disposable_redis: Any
) -> None:
    """Issue 7 acceptance: Redis stopped during 50 deal reviews: all complete, L1 serves,
    the redis breaker opens; after Redis returns it closes and L2 is written again."""
    from redis.asyncio import Redis

    from graphs.engine.engine import Engine

    settings = Settings(
        data_dir=tmp_path / "data",
        warehouse_url=small_warehouse_url,
        redis_url=disposable_redis.url,
        node_timeout_s=5.0,
        query_timeout_s=2.0,
        warehouse_attempt_timeout_s=2.2,
    )
    async with Engine(settings, configure_telemetry=False) as engine:
        assert engine.guards is not None
        states: list[str] = []
        engine.guards.add_listener(lambda name, _old, new: states.append(f"{name}:{new.value}"))
        results = await _reviews_with_redis_stopped(engine, disposable_redis)
        assert [r["status"] for r in results] == ["complete"] * 50
        assert "redis:open" in states
        cache = engine.stats()["cache"]
        assert cache["namespaces"]["queries"]["l1"]["hits"] > 0  # L1 kept serving
        assert cache["redis"]["rejected_by_breaker"] > 0  # calls failed fast while open

        disposable_redis.start()  # empty: no persistence, so every key now is a new write
        breaker = engine.guards.breaker("redis")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        probe = 0
        while breaker.state is not BreakerState.CLOSED:
            assert loop.time() < deadline, breaker.stats()
            probe += 1  # unknown deals miss L1 and so reach for Redis
            result = await engine.invoke("deal_review", {"deal_ids": [f"D-9{probe:04d}"]})
            assert result["status"] == "complete"
            await asyncio.sleep(0.2)
        assert states[-2:] == ["redis:half_open", "redis:closed"]
        await engine.invoke("deal_review", {"deal_ids": ["D-99999"]})
        assert engine.stats()["cache"]["redis"]["state"] == "up"
    async with Redis.from_url(disposable_redis.url) as raw:
        written = [k async for k in raw.scan_iter(match="sophia:*", count=1000)]
    assert written, "nothing was written to Redis after it came back"
