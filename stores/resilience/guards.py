"""Guards: a circuit breaker, a tenacity retry and a per-attempt timeout around each call.

`Guard` implements the `CallGuard` protocol of docs/architecture.md. The layers nest as

    retry( breaker.call( timeout( fn(*args, **kwargs) ) ) )

so every attempt is one breaker call; a timeout is a failure for the breaker; and once the
breaker opens, the `CircuitOpenError` of the next attempt is not transient and ends the
retries. An error that leaves a guard is marked as such (`stores.resilience.retry`), so
that no layer above retries what the guard already retried. `ResilienceRegistry` is the
explicit object (owned by the Engine, never module-level) that makes one guard per
dependency with per-dependency defaults; the warehouse guard's come from the statement
budget (`stores.resilience.budget`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace

from stores.resilience.breaker import BreakerSettings, BreakerState, CircuitBreaker, Listener
from stores.resilience.budget import BACKOFF_INITIAL_S, StatementBudget
from stores.resilience.call_guard import CallGuard
from stores.resilience.errors import DependencyTimeoutError
from stores.resilience.retry import RetrySettings, async_retrying, mark_guarded
from stores.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class GuardSettings:
    """The policies of one guard: breaker tunables, retry (None: no retry), timeout (None: none)."""

    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    retry: RetrySettings | None = field(default_factory=RetrySettings)
    timeout_s: float | None = None


class Guard:
    """Circuit breaker + retry + per-attempt timeout for one dependency (a `CallGuard`).

    Promises: at most ``retry.attempts`` attempts, only for transient errors; each attempt
    passes through ``breaker`` and is bounded by ``timeout_s`` (raising
    `DependencyTimeoutError`, a `TimeoutError`, which the breaker counts as a failure);
    an open breaker fails the call at once, without retrying; the error that ends a run is
    marked as having passed this guard (`stores.resilience.retry.guarded_by`).
    """

    def __init__(
        self,
        name: str,
        breaker: CircuitBreaker,
        retry: RetrySettings | None = None,
        timeout_s: float | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.breaker = breaker
        self.retry = retry
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._counts = {"runs": 0, "attempts": 0, "timeouts": 0, "errors": 0}

    async def run(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` with retry around breaker around timeout."""
        self._count("runs")
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            self._count("attempts")
            return await self.breaker.call(self._timed, lambda: fn(*args, **kwargs))

        try:
            if self.retry is None:
                return await attempt()
            return await async_retrying(self.retry, sleep=self._sleep)(attempt)
        except Exception as exc:
            self._count("errors")
            mark_guarded(exc, self.name)
            raise
        finally:
            if attempts > 1:
                span = trace.get_current_span()
                span.set_attribute("sophia.retry.dependency", self.name)
                span.set_attribute("sophia.retry.attempts", attempts)

    def stats(self) -> dict[str, Any]:
        """Runs, attempts (retries = attempts - runs), timeouts, errors, and the breaker's stats."""
        with self._lock:
            counts = dict(self._counts)
        return {
            "name": self.name,
            **counts,
            "retries": max(0, counts["attempts"] - counts["runs"]),
            "timeout_s": self.timeout_s,
            "breaker": self.breaker.stats(),
        }

    async def _timed(self, start: Callable[[], Awaitable[T]]) -> T:
        if self.timeout_s is None:
            return await start()
        deadline = asyncio.timeout(self.timeout_s)
        try:
            async with deadline:
                return await start()
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # the callable's own TimeoutError, not ours
            self._count("timeouts")
            raise DependencyTimeoutError(self.name, self.timeout_s) from exc

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1


def warehouse_guard_settings(budget: StatementBudget) -> GuardSettings:
    """The warehouse guard of a statement budget: its attempts, its per-attempt timeout,
    and no new attempt once the budget's worst case would be exceeded."""
    return GuardSettings(
        breaker=BreakerSettings(slow_call_s=10.0, open_wait_s=5.0, max_open_wait_s=20.0),
        retry=RetrySettings(
            attempts=budget.attempts,
            initial_s=min(BACKOFF_INITIAL_S, budget.backoff_max_s),
            max_s=budget.backoff_max_s,
            total_s=budget.guard_worst_case_s,
        ),
        timeout_s=budget.attempt_timeout_s,
    )


# Per-dependency defaults. Open waits are capped at 20 s so that after a long outage the
# first trial call comes at most 20 s after the dependency returns (target: < 30 s).
DEFAULT_GUARDS: Mapping[str, GuardSettings] = {
    "warehouse": warehouse_guard_settings(StatementBudget()),
    # Redis is a cache: fail fast (L1 still serves) rather than wait.
    "redis": GuardSettings(
        breaker=BreakerSettings(slow_call_s=0.25, open_wait_s=2.0, max_open_wait_s=20.0),
        retry=RetrySettings(attempts=2, initial_s=0.01, max_s=0.05, total_s=0.25),
        timeout_s=0.5,
    ),
    "llm": GuardSettings(
        breaker=BreakerSettings(
            slow_call_s=30.0, window_size=10, minimum_calls=3, max_open_wait_s=20.0
        ),
        retry=RetrySettings(attempts=3, initial_s=0.5, max_s=8.0, total_s=30.0),
        timeout_s=60.0,
    ),
    "default": GuardSettings(
        breaker=BreakerSettings(max_open_wait_s=20.0), retry=RetrySettings(), timeout_s=30.0
    ),
}


class ResilienceRegistry:
    """One `Guard` (and so one breaker) per dependency name, shared by everything that
    holds this registry.

    Names: ``"warehouse"``, ``"redis"``, ``"llm:<model>"`` (defaults of ``"llm"``); any
    other name gets ``"default"``. ``overrides`` replace defaults by exact name or by
    the part before ``:``.
    """

    def __init__(
        self,
        overrides: Mapping[str, GuardSettings] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        meter_provider: Any = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = {**DEFAULT_GUARDS, **(overrides or {})}
        self._clock = clock
        self._meter_provider = meter_provider
        self._sleep = sleep
        self._lock = threading.Lock()
        self._guards: dict[str, Guard] = {}
        self._listeners: list[Listener] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        overrides: Mapping[str, GuardSettings] | None = None,
        **kwargs: Any,
    ) -> ResilienceRegistry:
        """A registry for an engine with ``settings`` (``kwargs``: clock, meter_provider, sleep).

        The warehouse guard follows the settings' statement budget
        (`Settings.statement_budget`, validated again here: settings copied with
        ``model_copy`` skip validation): ``warehouse_attempts`` attempts of at most
        ``warehouse_attempt_timeout_s`` each, all of them over before ``node_timeout_s``.
        The node's own timeout would cancel the guarded call, and a cancelled call is no
        failure for the breaker: a hanging warehouse would never open it. ``overrides``
        (tests, tuning) are taken as given.
        """
        warehouse = warehouse_guard_settings(settings.statement_budget())
        return cls({"warehouse": warehouse, **(overrides or {})}, **kwargs)

    def settings_for(self, name: str) -> GuardSettings:
        """The settings a guard called ``name`` gets."""
        if name in self._settings:
            return self._settings[name]
        return self._settings.get(name.split(":", 1)[0], self._settings["default"])

    def guard(self, name: str) -> Guard:
        """The guard for dependency ``name``, made on first use and the same object after."""
        with self._lock:
            found = self._guards.get(name)
            if found is not None:
                return found
            s = self.settings_for(name)
            breaker = CircuitBreaker.from_settings(
                name, s.breaker, clock=self._clock, meter_provider=self._meter_provider
            )
            for listener in self._listeners:
                breaker.add_listener(listener)
            guard = Guard(name, breaker, s.retry, s.timeout_s, sleep=self._sleep)
            self._guards[name] = guard
            return guard

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker of dependency ``name``."""
        return self.guard(name).breaker

    def add_listener(self, listener: Listener) -> None:
        """Listen to state changes of every breaker, existing and future."""
        with self._lock:
            self._listeners.append(listener)
            guards = list(self._guards.values())
        for guard in guards:
            guard.breaker.add_listener(listener)

    def states(self) -> dict[str, BreakerState]:
        """Each known dependency's breaker state."""
        with self._lock:
            guards = dict(self._guards)
        return {name: g.breaker.state for name, g in guards.items()}

    def stats(self) -> dict[str, dict[str, Any]]:
        """`Guard.stats()` for every dependency seen so far, by name."""
        with self._lock:
            guards = dict(self._guards)
        return {name: g.stats() for name, g in sorted(guards.items())}


__all__ = [
    "DEFAULT_GUARDS",
    "CallGuard",
    "Guard",
    "GuardSettings",
    "ResilienceRegistry",
    "warehouse_guard_settings",
]
