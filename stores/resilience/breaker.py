"""A circuit breaker that never holds its lock while the protected call runs.

States: ``closed`` (calls pass, outcomes go into a count-based sliding window),
``open`` (calls fail fast with `CircuitOpenError`), ``half_open`` (a few trial calls
decide whether to close again). State bookkeeping happens under a `threading.Lock`
that is held only for a few assignments, so the breaker works from asyncio tasks and
threads alike and concurrent callers never wait for each other's calls.

Every call is admitted with a *generation* number (bumped on each state change); an
outcome that arrives after the state changed is stale and ignored, so a slow call
admitted while closed cannot re-open a breaker that has since recovered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace

from stores.errors import ConfigurationError
from stores.resilience.breaker_metrics import BreakerInstruments, instruments_for
from stores.resilience.errors import CircuitOpenError
from stores.resilience.retry import default_is_failure

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    """The three states of a circuit breaker; values compare equal to plain strings."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Listener = Callable[[str, BreakerState, BreakerState], None]
"""A state-change callback: ``listener(breaker_name, old_state, new_state)``."""


@dataclass(frozen=True)
class BreakerSettings:
    """The tunables of a `CircuitBreaker`; validated on construction.

    A slow-call rate threshold of 1.0 or more switches slow-call tripping off (slow calls
    are still counted in `stats()`).
    """

    failure_rate_threshold: float = 0.5
    slow_call_rate_threshold: float = 1.0
    slow_call_s: float = 5.0
    window_size: int = 20
    minimum_calls: int = 5
    open_wait_s: float = 5.0
    open_wait_multiplier: float = 2.0
    max_open_wait_s: float = 60.0
    half_open_permits: int = 2

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.failure_rate_threshold <= 1.0:
            problems.append("failure_rate_threshold must be in (0, 1]")
        if not 0.0 < self.slow_call_rate_threshold:
            problems.append("slow_call_rate_threshold must be > 0 (1.0 = off)")
        if self.slow_call_s <= 0:
            problems.append("slow_call_s must be > 0")
        if self.window_size < 1:
            problems.append("window_size must be >= 1")
        if not 1 <= self.minimum_calls <= self.window_size:
            problems.append("minimum_calls must be between 1 and window_size")
        if self.open_wait_s <= 0 or self.max_open_wait_s < self.open_wait_s:
            problems.append("need 0 < open_wait_s <= max_open_wait_s")
        if self.open_wait_multiplier < 1.0:
            problems.append("open_wait_multiplier must be >= 1")
        if self.half_open_permits < 1:
            problems.append("half_open_permits must be >= 1")
        if problems:
            raise ConfigurationError("invalid circuit breaker settings: " + "; ".join(problems))


@dataclass
class _Ticket:
    """Permission for one call: the generation it was admitted in and whether it is a trial."""

    generation: int
    trial: bool
    started: float


class CircuitBreaker:
    """A circuit breaker for one dependency (see the module docstring for the model).

    Promises: while open, calls raise `CircuitOpenError` without calling the function;
    in half-open at most ``half_open_permits`` trial calls are admitted, and the breaker
    closes once that many succeeded, re-opening (with a wait grown by
    ``open_wait_multiplier``, capped at ``max_open_wait_s``) on any trial failure;
    cancellation (and any other non-`Exception` such as `GeneratorExit`) never counts
    and gives back a half-open permit; listeners fire once per transition, outside the lock.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_rate_threshold: float = 0.5,
        slow_call_rate_threshold: float = 1.0,
        slow_call_s: float = 5.0,
        window_size: int = 20,
        minimum_calls: int = 5,
        open_wait_s: float = 5.0,
        open_wait_multiplier: float = 2.0,
        max_open_wait_s: float = 60.0,
        half_open_permits: int = 2,
        is_failure: Callable[[BaseException], bool] = default_is_failure,
        clock: Callable[[], float] = time.monotonic,
        meter_provider: Any = None,
    ) -> None:
        self.name = name
        self.settings = BreakerSettings(
            failure_rate_threshold=failure_rate_threshold,
            slow_call_rate_threshold=slow_call_rate_threshold,
            slow_call_s=slow_call_s,
            window_size=window_size,
            minimum_calls=minimum_calls,
            open_wait_s=open_wait_s,
            open_wait_multiplier=open_wait_multiplier,
            max_open_wait_s=max_open_wait_s,
            half_open_permits=half_open_permits,
        )
        self._is_failure = is_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._pending: deque[tuple[BreakerState, BreakerState]] = deque()
        self._emit_lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._generation = 0
        # Sliding window of (failed, slow) outcomes with running counts.
        self._window: deque[tuple[bool, bool]] = deque(maxlen=window_size)
        self._window_failures = 0
        self._window_slow = 0
        self._opened_at = 0.0
        self._open_wait = open_wait_s
        self._reopen_count = 0
        self._trials_admitted = 0
        self._trial_successes = 0
        self._changed_at = clock()
        self._changed_at_wall = time.time()
        self._counts = {
            "calls": 0,
            "successes": 0,
            "failures": 0,
            "ignored": 0,
            "cancelled": 0,
            "slow_calls": 0,
            "rejections": 0,
        }
        self._instruments: BreakerInstruments = instruments_for(meter_provider)
        self._instruments.register(self)

    @classmethod
    def from_settings(cls, name: str, settings: BreakerSettings, **kwargs: Any) -> CircuitBreaker:
        """A breaker with the tunables of ``settings`` (``kwargs``: is_failure, clock, ...)."""
        return cls(name, **vars(settings), **kwargs)

    # -- public API -------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose wait is over reports ``half_open``."""
        with self._lock:
            self._maybe_half_open(self._clock())
            state = self._state
        self._drain_events()
        return state

    def peek_state(self) -> BreakerState:
        """The stored state without advancing timers or firing listeners (for gauges)."""
        return self._state

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(name, old, new)`` after every state change (exceptions are logged)."""
        with self._lock:
            self._listeners.append(listener)

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` under the breaker; raises `CircuitOpenError` if open."""
        ticket = self._acquire()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._record(ticket, exc)
            raise
        self._record(ticket, None)
        return result

    def counts(self) -> dict[str, int]:
        """Running totals: calls, successes, failures, ignored, cancelled, slow, rejections."""
        with self._lock:
            return dict(self._counts)

    def stats(self) -> dict[str, Any]:
        """A snapshot: state, window rates, totals, and when the state last changed."""
        with self._lock:
            now = self._clock()
            self._maybe_half_open(now)
            n = len(self._window)
            snapshot: dict[str, Any] = {
                "name": self.name,
                "state": self._state.value,
                "failure_rate": self._window_failures / n if n else 0.0,
                "slow_call_rate": self._window_slow / n if n else 0.0,
                "window_calls": n,
                **self._counts,
                "open_wait_s": self._open_wait,
                "retry_after_s": self._retry_after(now),
                "half_open_trials": self._trials_admitted,
                "state_changed_at": self._changed_at_wall,
                "state_changed_ago_s": max(0.0, now - self._changed_at),
            }
        self._drain_events()
        return snapshot

    # -- bookkeeping (under the lock) ----------------------------------------------------

    def _acquire(self) -> _Ticket:
        ticket: _Ticket | None = None
        with self._lock:
            now = self._clock()
            self._maybe_half_open(now)
            if self._state is BreakerState.CLOSED:
                ticket = _Ticket(self._generation, False, now)
            elif (
                self._state is BreakerState.HALF_OPEN
                and self._trials_admitted < self.settings.half_open_permits
            ):
                self._trials_admitted += 1
                ticket = _Ticket(self._generation, True, now)
            else:
                self._counts["rejections"] += 1
                state, retry_after = self._state, self._retry_after(now)
        self._drain_events()
        if ticket is None:
            span = trace.get_current_span()
            span.set_attribute("sophia.breaker.name", self.name)
            span.set_attribute("sophia.breaker.state", state.value)
            raise CircuitOpenError(self.name, retry_after)
        return ticket

    def _record(self, ticket: _Ticket, exc: BaseException | None) -> None:
        outcome = self._classify(exc)
        with self._lock:
            now = self._clock()
            slow = now - ticket.started >= self.settings.slow_call_s
            self._counts["calls"] += 1
            self._counts[{"success": "successes", "failure": "failures"}.get(outcome, outcome)] += 1
            self._counts["slow_calls"] += slow
            if ticket.generation == self._generation:
                if self._state is BreakerState.CLOSED and outcome in ("success", "failure"):
                    self._record_closed(outcome == "failure", slow, now)
                elif self._state is BreakerState.HALF_OPEN and ticket.trial:
                    self._record_trial(outcome, slow, now)
        self._drain_events()

    def _classify(self, exc: BaseException | None) -> str:
        if exc is None:
            return "success"
        if not isinstance(exc, Exception):
            return "cancelled"  # cancellation, GeneratorExit, KeyboardInterrupt, SystemExit
        try:
            return "failure" if self._is_failure(exc) else "ignored"
        except Exception:
            log.exception("circuit breaker %r: is_failure raised; counting a failure", self.name)
            return "failure"

    def _record_closed(self, failed: bool, slow: bool, now: float) -> None:
        if len(self._window) == self._window.maxlen:
            old_failed, old_slow = self._window[0]
            self._window_failures -= old_failed
            self._window_slow -= old_slow
        self._window.append((failed, slow))
        self._window_failures += failed
        self._window_slow += slow
        n = len(self._window)
        if n < self.settings.minimum_calls:
            return
        tripped = self._window_failures / n >= self.settings.failure_rate_threshold
        if self.settings.slow_call_rate_threshold < 1.0:
            tripped = tripped or self._window_slow / n >= self.settings.slow_call_rate_threshold
        if tripped:
            self._open(now)

    def _record_trial(self, outcome: str, slow: bool, now: float) -> None:
        slow_counts = slow and self.settings.slow_call_rate_threshold < 1.0
        if outcome == "failure" or (outcome == "success" and slow_counts):
            self._reopen_count += 1
            self._open(now)
        elif outcome == "success":
            self._trial_successes += 1
            if self._trial_successes >= self.settings.half_open_permits:
                self._transition(BreakerState.CLOSED, now)
        else:  # cancelled or ignored: give the permit back for another trial
            self._trials_admitted -= 1

    def _open(self, now: float) -> None:
        s = self.settings
        wait = s.open_wait_s * s.open_wait_multiplier**self._reopen_count
        self._open_wait = min(wait, s.max_open_wait_s)
        self._opened_at = now
        self._transition(BreakerState.OPEN, now)

    def _maybe_half_open(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._opened_at + self._open_wait:
            self._transition(BreakerState.HALF_OPEN, now)

    def _transition(self, new: BreakerState, now: float) -> None:
        self._pending.append((self._state, new))
        self._state = new
        self._generation += 1
        self._changed_at = now
        self._changed_at_wall = time.time()
        self._trials_admitted = 0
        self._trial_successes = 0
        if new is BreakerState.CLOSED:
            self._window.clear()
            self._window_failures = self._window_slow = 0
            self._reopen_count = 0
            self._open_wait = self.settings.open_wait_s

    def _retry_after(self, now: float) -> float:
        if self._state is BreakerState.OPEN:
            return max(0.0, self._opened_at + self._open_wait - now)
        return 0.0

    def _drain_events(self) -> None:
        """Fire queued transitions in order, outside the state lock.

        One thread drains at a time (a non-blocking lock), so listeners see transitions
        in the order they happened even when several threads cause them; a thread that
        finds another draining leaves its events to it. A listener that makes calls on
        the breaker itself cannot deadlock: its transitions are drained by the loop.
        """
        while self._pending:
            if not self._emit_lock.acquire(blocking=False):
                return
            try:
                while True:
                    with self._lock:
                        if not self._pending:
                            break
                        old, new = self._pending.popleft()
                        listeners = list(self._listeners)
                    self._fire(old, new, listeners)
            finally:
                self._emit_lock.release()

    def _fire(self, old: BreakerState, new: BreakerState, listeners: list[Listener]) -> None:
        log.info("circuit breaker %r: %s -> %s", self.name, old.value, new.value)
        self._instruments.record_transition(self.name, old.value, new.value)
        for listener in listeners:
            try:
                listener(self.name, old, new)
            except Exception:
                log.exception("circuit breaker %r: state listener failed", self.name)

