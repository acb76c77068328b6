"""The circuit breaker state machine, on a fake clock (no sleeping for transitions)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import types
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stores.errors import ConfigurationError
from stores.resilience.breaker import BreakerState, CircuitBreaker
from stores.resilience.errors import CircuitOpenError
from stores.resilience.retry import default_is_failure
from stores.warehouse.errors import QueryError
from tests.stores.metric_points import metric_points

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
T = TypeVar("T")


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends to its end, without an event loop.

    `CircuitBreaker.call` awaits nothing of its own, so a call of a function that does
    not suspend completes here, on the caller's thread: the tests below use it to call
    the breaker many times, and from many threads, cheaply.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the coroutine suspended")


def call(breaker: CircuitBreaker, fn: Callable[[], T]) -> T:
    """``fn()`` as one call through the breaker (a plain function, run in place)."""

    async def body() -> T:
        return fn()

    return run_now(breaker.call(body))


@types.coroutine
def _suspend() -> Generator[None, None, None]:
    yield


class Overlapping:
    """A call through the breaker that is admitted now and ends when the test says."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        async def body() -> str:
            await _suspend()
            return "ok"

        self._coro = breaker.call(body)
        self._coro.send(None)  # admitted; suspended inside the call

    def succeed(self) -> None:
        with pytest.raises(StopIteration):
            self._coro.send(None)

    def fail(self, exc: BaseException) -> None:
        with pytest.raises(type(exc)):
            self._coro.throw(exc)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Boom(ConnectionError):
    """A dependency failure."""


def make(clock: FakeClock, **kwargs: Any) -> CircuitBreaker:
    options: dict[str, Any] = {
        "failure_rate_threshold": 0.5,
        "window_size": 10,
        "minimum_calls": 4,
        "open_wait_s": 5.0,
        "open_wait_multiplier": 2.0,
        "max_open_wait_s": 30.0,
        "half_open_permits": 2,
    }
    options.update(kwargs)
    return CircuitBreaker("dep", clock=clock, **options)


def ok() -> str:
    return "ok"


def fail() -> str:
    raise Boom("connection refused")


def outcome(breaker: CircuitBreaker, fn: Callable[[], str]) -> str:
    """Call through the breaker and say what happened: ok, failed or rejected."""
    try:
        call(breaker, fn)
    except CircuitOpenError:
        return "rejected"
    except Boom:
        return "failed"
    return "ok"


def trip(breaker: CircuitBreaker) -> None:
    while breaker.peek_state() is CLOSED:
        outcome(breaker, fail)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_opens_on_failure_rate_only_after_minimum_calls(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=5)
    for _ in range(4):
        assert outcome(breaker, fail) == "failed"
        assert breaker.state is CLOSED  # 100% failures but fewer than minimum_calls
    assert outcome(breaker, fail) == "failed"
    assert breaker.state is OPEN


def test_failure_rate_threshold_is_reached_not_exceeded(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=4)
    for fn in (ok, ok, fail):
        outcome(breaker, fn)
    assert breaker.state is CLOSED
    outcome(breaker, ok)  # 1/4 failed
    assert breaker.state is CLOSED
    outcome(breaker, fail)  # 2/5 failed
    assert breaker.state is CLOSED
    outcome(breaker, fail)  # 3/6 = 50%
    assert breaker.state is OPEN


def test_window_slides_old_outcomes_out(clock: FakeClock) -> None:
    # Over the last 4 calls only; a cumulative count would be 5/9 < 0.75 at the end.
    breaker = make(clock, window_size=4, minimum_calls=4, failure_rate_threshold=0.75)
    sequence = [fail, fail, ok, ok, ok, ok, fail, fail]
    for fn in sequence:
        outcome(breaker, fn)
        assert breaker.state is CLOSED
    outcome(breaker, fail)  # window: ok, fail, fail, fail
    assert breaker.state is OPEN


def test_opens_on_slow_call_rate(clock: FakeClock) -> None:
    breaker = make(clock, slow_call_rate_threshold=0.5, slow_call_s=1.0, minimum_calls=4)

    def slow() -> str:
        clock.advance(2.0)
        return "ok"

    outcome(breaker, ok)
    outcome(breaker, ok)
    outcome(breaker, slow)
    assert breaker.state is CLOSED
    outcome(breaker, slow)  # 2 slow of 4
    assert breaker.state is OPEN
    assert breaker.stats()["failures"] == 0


def test_slow_calls_do_not_trip_when_slow_rate_is_off(clock: FakeClock) -> None:
    breaker = make(clock, slow_call_rate_threshold=1.0, slow_call_s=1.0)

    def slow() -> str:
        clock.advance(2.0)
        return "ok"

    for _ in range(20):
        outcome(breaker, slow)
    assert breaker.state is CLOSED
    assert breaker.stats()["slow_calls"] == 20
    assert breaker.stats()["slow_call_rate"] == 1.0


def test_open_fails_fast_without_calling(clock: FakeClock) -> None:
    breaker = make(clock)
    trip(breaker)
    calls = []
    clock.advance(1.5)
    with pytest.raises(CircuitOpenError) as info:
        call(breaker, lambda: calls.append(1))
    assert calls == []
    assert info.value.name == "dep"
    assert info.value.retry_after_s == pytest.approx(3.5)
    assert "dep" in str(info.value)
    assert breaker.stats()["rejections"] == 1


async def test_open_fails_fast_async(clock: FakeClock) -> None:
    breaker = make(clock)
    trip(breaker)
    called = False

    async def dependency() -> None:
        nonlocal called
        called = True

    with pytest.raises(CircuitOpenError):
        await breaker.call(dependency)
    assert not called


def test_half_open_after_wait_then_closes_after_all_permits_succeed(clock: FakeClock) -> None:
    breaker = make(clock, half_open_permits=2)
    trip(breaker)
    clock.advance(4.99)
    assert breaker.state is OPEN
    clock.advance(0.01)
    assert breaker.state is HALF_OPEN
    assert outcome(breaker, ok) == "ok"
    assert breaker.state is HALF_OPEN  # one of two trials done
    assert outcome(breaker, ok) == "ok"
    assert breaker.state is CLOSED
    stats = breaker.stats()
    assert stats["window_calls"] == 0 and stats["failure_rate"] == 0.0
    # The window was reset: a single failure is far from tripping it again.
    outcome(breaker, fail)
    assert breaker.state is CLOSED


def test_trial_failure_reopens_with_growing_capped_wait_reset_on_close(clock: FakeClock) -> None:
    breaker = make(clock, open_wait_s=5.0, open_wait_multiplier=2.0, max_open_wait_s=30.0)
    trip(breaker)
    for expected_wait in (10.0, 20.0, 30.0, 30.0):
        clock.advance(breaker.stats()["retry_after_s"])
        assert breaker.state is HALF_OPEN
        assert outcome(breaker, fail) == "failed"
        assert breaker.state is OPEN
        assert breaker.stats()["open_wait_s"] == expected_wait
        clock.advance(expected_wait - 0.5)
        assert outcome(breaker, ok) == "rejected"
        clock.advance(0.5)
    assert outcome(breaker, ok) == "ok"
    assert outcome(breaker, ok) == "ok"
    assert breaker.state is CLOSED
    trip(breaker)
    assert breaker.stats()["open_wait_s"] == 5.0  # back to the base wait


def test_non_failures_are_ignored_by_default(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=2)

    def bad_sql() -> str:
        raise QueryError("syntax error at or near 'SELEC'")

    for _ in range(10):
        with pytest.raises(QueryError):
            call(breaker, bad_sql)
    assert breaker.state is CLOSED
    assert breaker.stats()["ignored"] == 10
    assert default_is_failure(ValueError("bad arg")) is False
    assert default_is_failure(ConnectionResetError()) is True
    assert default_is_failure(TimeoutError()) is True
    wrapped = ConnectionError("pool: cannot connect")
    wrapped.__cause__ = CircuitOpenError("inner", 1.0)
    assert default_is_failure(wrapped) is False  # an open breaker below is not our failure


def test_custom_is_failure(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=2, is_failure=lambda exc: isinstance(exc, KeyError))

    def missing() -> str:
        raise KeyError("x")

    for _ in range(2):
        with pytest.raises(KeyError):
            call(breaker, missing)
    assert breaker.state is OPEN


def test_half_open_ignored_error_gives_the_permit_back(clock: FakeClock) -> None:
    breaker = make(clock, half_open_permits=1)
    trip(breaker)
    clock.advance(5.0)

    def bad_sql() -> str:
        raise QueryError("bad statement")

    with pytest.raises(QueryError):
        call(breaker, bad_sql)
    assert breaker.state is HALF_OPEN
    assert outcome(breaker, ok) == "ok"
    assert breaker.state is CLOSED


def test_listeners_fire_once_per_transition(clock: FakeClock) -> None:
    breaker = make(clock)
    seen: list[tuple[str, str, str]] = []
    breaker.add_listener(lambda name, old, new: seen.append((name, old.value, new.value)))

    def broken_listener(name: str, old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken_listener)  # must not break the breaker or other listeners
    trip(breaker)
    for _ in range(3):
        outcome(breaker, ok)  # rejected: no new events
    clock.advance(5.0)
    outcome(breaker, fail)
    clock.advance(10.0)
    outcome(breaker, ok)
    outcome(breaker, ok)
    assert seen == [
        ("dep", "closed", "open"),
        ("dep", "open", "half_open"),
        ("dep", "half_open", "open"),
        ("dep", "open", "half_open"),
        ("dep", "half_open", "closed"),
    ]


def test_stale_outcomes_from_before_a_transition_are_ignored(clock: FakeClock) -> None:
    breaker = make(clock, half_open_permits=1, minimum_calls=1)
    admitted_while_closed = Overlapping(breaker)
    trip(breaker)
    clock.advance(5.0)
    assert breaker.state is HALF_OPEN
    # The old call now succeeds: it was no trial, so it must not close the breaker.
    admitted_while_closed.succeed()
    assert breaker.state is HALF_OPEN
    # And an old failure must not re-open it either.
    Overlapping(breaker).succeed()  # the one trial
    assert breaker.state is CLOSED
    another = Overlapping(breaker)
    trip(breaker)
    clock.advance(5.0)
    outcome(breaker, ok)
    assert breaker.state is CLOSED
    another.fail(Boom("late"))  # would trip it (minimum_calls=1) were it counted
    assert breaker.state is CLOSED
    assert breaker.stats()["window_calls"] == 0


def test_invalid_settings_are_named() -> None:
    with pytest.raises(ConfigurationError, match="minimum_calls"):
        CircuitBreaker("x", window_size=5, minimum_calls=10)
    with pytest.raises(ConfigurationError, match="half_open_permits"):
        CircuitBreaker("x", half_open_permits=0)


# -- concurrency -----------------------------------------------------------------------


async def test_concurrent_failures_from_tasks_count_exactly(clock: FakeClock) -> None:
    breaker = make(clock, window_size=100, minimum_calls=100)
    transitions: list[BreakerState] = []
    breaker.add_listener(lambda _n, _o, new: transitions.append(new))
    gate = asyncio.Event()

    async def failing() -> None:
        await gate.wait()
        raise Boom("reset by peer")

    tasks = [asyncio.create_task(breaker.call(failing)) for _ in range(100)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, Boom) for r in results)
    stats = breaker.stats()
    assert stats["failures"] == 100 and stats["calls"] == 100
    assert transitions == [OPEN]


def test_concurrent_calls_from_threads_count_exactly(clock: FakeClock) -> None:
    breaker = make(clock, window_size=10, minimum_calls=10, failure_rate_threshold=1.0)
    per_thread, threads = 500, 8
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        start.wait(timeout=10)
        for i in range(per_thread):
            outcome(breaker, fail if (i + index) % 2 else ok)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    stats = breaker.stats()
    assert stats["calls"] == threads * per_thread
    assert stats["failures"] == stats["successes"] == threads * per_thread // 2
    assert stats["rejections"] == 0


def test_listeners_see_a_consistent_chain_of_transitions_from_threads() -> None:
    clock = FakeClock()
    breaker = make(clock, window_size=4, minimum_calls=2, half_open_permits=1, open_wait_s=0.5)
    seen: list[tuple[BreakerState, BreakerState]] = []
    # A slow first listener widens the gap between a transition and its recording.
    breaker.add_listener(lambda _n, _old, _new: time.sleep(0.0005))
    breaker.add_listener(lambda _n, old, new: seen.append((old, new)))
    start = threading.Barrier(6)

    def worker(index: int) -> None:
        start.wait(timeout=10)
        for i in range(400):
            outcome(breaker, fail if (i * 7 + index) % 3 else ok)
            if i % 5 == 0:
                clock.advance(0.25)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(worker, range(6)))
    assert len(seen) > 10
    assert seen[0][0] is CLOSED
    for (_, new), (old, _) in itertools.pairwise(seen):
        assert new is old  # each event starts where the previous one ended
    assert seen[-1][1] is breaker.peek_state()


def test_a_failing_is_failure_predicate_counts_a_failure(clock: FakeClock) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    breaker = make(clock, minimum_calls=1, is_failure=broken)
    assert outcome(breaker, fail) == "failed"  # the original error still reaches the caller
    assert breaker.state is OPEN


async def test_half_open_admits_exactly_the_permits_under_concurrency(clock: FakeClock) -> None:
    breaker = make(clock, half_open_permits=3)
    trip(breaker)
    clock.advance(5.0)
    entered = 0
    gate = asyncio.Event()

    async def trial() -> str:
        nonlocal entered
        entered += 1
        await gate.wait()
        return "ok"

    tasks = [asyncio.create_task(breaker.call(trial)) for _ in range(50)]
    await asyncio.sleep(0.01)
    assert entered == 3
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(r == "ok" for r in results) == 3
    assert sum(isinstance(r, CircuitOpenError) for r in results) == 47
    assert breaker.state is CLOSED


def test_half_open_permits_from_threads(clock: FakeClock) -> None:
    breaker = make(clock, half_open_permits=2)
    trip(breaker)
    clock.advance(5.0)
    entered = threading.Semaphore(0)
    release = threading.Event()
    callers = 16
    start = threading.Barrier(callers)

    def trial() -> str:
        entered.release()
        release.wait(timeout=10)
        return "ok"

    def caller() -> str:
        start.wait(timeout=10)
        try:
            return call(breaker, trial)
        except CircuitOpenError:
            return "rejected"

    with ThreadPoolExecutor(callers) as pool:
        futures = [pool.submit(caller) for _ in range(callers)]
        for _ in range(2):
            assert entered.acquire(timeout=10)
        deadline = time.monotonic() + 10  # wait (not a timing assertion) for the others
        while breaker.stats()["rejections"] < callers - 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert breaker.stats()["rejections"] == callers - 2
        release.set()
        results = [f.result(timeout=10) for f in futures]
    assert results.count("ok") == 2
    assert breaker.state is CLOSED


async def test_cancellation_is_not_a_failure(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, failure_rate_threshold=0.5)

    async def hang() -> None:
        await asyncio.Event().wait()

    for _ in range(5):
        task = asyncio.create_task(breaker.call(hang))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    stats = breaker.stats()
    assert breaker.state is CLOSED
    assert stats["failures"] == 0 and stats["cancelled"] == 5 and stats["window_calls"] == 0


async def test_cancelled_trial_frees_its_permit(clock: FakeClock) -> None:
    breaker = make(clock, half_open_permits=1)
    trip(breaker)
    clock.advance(5.0)

    async def hang() -> None:
        await asyncio.Event().wait()

    first = asyncio.create_task(breaker.call(hang))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):  # the only permit is taken
        await breaker.call(asyncio.sleep, 0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert breaker.state is HALF_OPEN
    await breaker.call(asyncio.sleep, 0)
    assert breaker.state is CLOSED


def test_generator_exit_and_keyboard_interrupt_are_not_failures(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1)

    def interrupted() -> None:
        raise KeyboardInterrupt

    def closed() -> None:
        raise GeneratorExit

    with pytest.raises(KeyboardInterrupt):
        call(breaker, interrupted)
    with pytest.raises(GeneratorExit):
        call(breaker, closed)
    assert breaker.state is CLOSED
    assert breaker.stats()["cancelled"] == 2


def test_lock_is_not_held_while_calls_run(clock: FakeClock) -> None:
    breaker = make(clock)
    both_inside = threading.Barrier(2)

    def meet() -> str:
        both_inside.wait(timeout=10)  # breaks if the calls were serialised
        return "ok"

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: call(breaker, meet), range(2)))
    assert results == ["ok", "ok"]


async def test_async_calls_overlap(clock: FakeClock) -> None:
    breaker = make(clock)
    inside = 0
    peak = 0
    gate = asyncio.Event()

    async def slow() -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        if inside == 2:
            gate.set()
        await asyncio.wait_for(gate.wait(), timeout=10)
        inside -= 1

    await asyncio.gather(breaker.call(slow), breaker.call(slow))
    assert peak == 2


# -- observability ---------------------------------------------------------------------


def test_metrics_count_transitions_and_gauge_state(clock: FakeClock) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    breaker = CircuitBreaker("metered", clock=clock, minimum_calls=2, meter_provider=provider)
    other = CircuitBreaker("quiet", clock=clock, meter_provider=provider)
    trip(breaker)
    outcome(breaker, ok)  # rejected
    changes = metric_points(reader, "sophia.breaker.state_changes")
    assert [(p.attributes["sophia.breaker.to"], p.value) for p in changes] == [("open", 1)]
    gauge = {
        p.attributes["sophia.breaker.name"]: p.value
        for p in metric_points(reader, "sophia.breaker.state")
    }
    assert gauge == {"metered": 2, "quiet": 0}
    calls = {
        p.attributes["sophia.breaker.outcome"]: p.value
        for p in metric_points(reader, "sophia.breaker.calls")
        if p.attributes["sophia.breaker.name"] == "metered"
    }
    assert calls == {"failure": 2, "rejected": 1}
    assert other.state is CLOSED


def test_rejection_sets_span_attribute(clock: FakeClock) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    breaker = make(clock)
    trip(breaker)
    with tracer.start_as_current_span("node"):
        assert outcome(breaker, ok) == "rejected"
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["sophia.breaker.state"] == "open"
    assert span.attributes["sophia.breaker.name"] == "dep"


def test_stats_reports_state_change_times(clock: FakeClock) -> None:
    breaker = make(clock)
    trip(breaker)
    clock.advance(2.0)
    stats = breaker.stats()
    assert stats["state"] == "open"
    assert stats["state_changed_ago_s"] == pytest.approx(2.0)
    assert stats["state_changed_at"] > 1_600_000_000  # wall clock, not the fake one
    assert stats["failure_rate"] == 1.0
    assert stats["retry_after_s"] == pytest.approx(3.0)


# -- the state machine against a reference model (hypothesis) -----------------------------


class ReferenceBreaker:
    """The breaker's rules written out plainly, for sequential calls."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.s = settings
        self.state = "closed"
        self.window: list[tuple[bool, bool]] = []
        self.opened_at = 0.0
        self.wait = settings["open_wait_s"]
        self.reopens = 0
        self.trial_successes = 0

    def tick(self, now: float) -> None:
        if self.state == "open" and now >= self.opened_at + self.wait:
            self.state = "half_open"
            self.trial_successes = 0

    def _open(self, now: float) -> None:
        s = self.s
        self.wait = min(
            s["open_wait_s"] * s["open_wait_multiplier"] ** self.reopens, s["max_open_wait_s"]
        )
        self.opened_at = now
        self.state = "open"

    def call(self, start: float, duration: float, kind: str) -> str:
        self.tick(start)
        if self.state == "open":
            return "rejected"
        end = start + duration
        slow = duration >= self.s["slow_call_s"]
        slow_on = self.s["slow_call_rate_threshold"] < 1.0
        if kind == "ignored":
            return kind
        failed = kind == "failed"
        if self.state == "closed":
            self.window = [*self.window, (failed, slow)][-self.s["window_size"] :]
            n = len(self.window)
            failures = sum(f for f, _ in self.window)
            slows = sum(sl for _, sl in self.window)
            if n >= self.s["minimum_calls"] and (
                failures / n >= self.s["failure_rate_threshold"]
                or (slow_on and slows / n >= self.s["slow_call_rate_threshold"])
            ):
                self._open(end)
        elif failed or (slow and slow_on):
            self.reopens += 1
            self._open(end)
        else:
            self.trial_successes += 1
            if self.trial_successes >= self.s["half_open_permits"]:
                self.state = "closed"
                self.window = []
                self.reopens = 0
        return kind


class BreakerMachine(RuleBasedStateMachine):
    """Random sequences of calls and clock moves: the breaker agrees with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.breaker: CircuitBreaker | None = None
        self.model: ReferenceBreaker | None = None

    @initialize(
        window=st.integers(1, 6),
        minimum=st.integers(1, 6),
        threshold=st.sampled_from([0.25, 0.5, 1.0]),
        slow_threshold=st.sampled_from([0.5, 1.0]),
        permits=st.integers(1, 3),
        multiplier=st.sampled_from([1.0, 2.0, 3.0]),
        cap=st.sampled_from([5.0, 12.0, 30.0]),
    )
    def setup(
        self,
        window: int,
        minimum: int,
        threshold: float,
        slow_threshold: float,
        permits: int,
        multiplier: float,
        cap: float,
    ) -> None:
        options: dict[str, Any] = {
            "failure_rate_threshold": threshold,
            "slow_call_rate_threshold": slow_threshold,
            "slow_call_s": 1.0,
            "window_size": window,
            "minimum_calls": min(minimum, window),
            "open_wait_s": 5.0,
            "open_wait_multiplier": multiplier,
            "max_open_wait_s": cap,
            "half_open_permits": permits,
        }
        self.breaker = CircuitBreaker("model", clock=self.clock, **options)
        self.model = ReferenceBreaker(options)

    @rule(
        kind=st.sampled_from(["ok", "failed", "ignored"]),
        duration=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    )
    def call(self, kind: str, duration: float) -> None:
        assert self.breaker is not None and self.model is not None
        expected = self.model.call(self.clock.now, duration, kind)

        def dependency() -> str:
            self.clock.advance(duration)
            if kind == "failed":
                raise Boom("down")
            if kind == "ignored":
                raise QueryError("bad statement")
            return "ok"

        try:
            call(self.breaker, dependency)
            actual = "ok"
        except CircuitOpenError:
            actual = "rejected"
        except Boom:
            actual = "failed"
        except QueryError:
            actual = "ignored"
        assert actual == expected

    @rule(seconds=st.sampled_from([0.5, 1.0, 4.0, 5.0, 9.0, 30.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def same_state(self) -> None:
        if self.breaker is None or self.model is None:
            return
        self.model.tick(self.clock.now)
        assert self.breaker.state.value == self.model.state
        if self.model.state == "open":
            expected = self.model.opened_at + self.model.wait - self.clock.now
            assert self.breaker.stats()["retry_after_s"] == pytest.approx(expected)


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_breaker_matches_reference_model = BreakerMachine.TestCase
