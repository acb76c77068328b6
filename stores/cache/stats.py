"""Counters behind `TieredCache.stats()`: per-namespace tier hits, loader calls, latency
percentiles, and the Redis health state machine (up / down with back-off / disabled).

The same counters are exported as OpenTelemetry observable instruments (read by
callbacks at collection time, so the hot path only bumps integers). The instruments are
created once per process, the first time a cache opens, and report every open cache.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from stores.cache.l1 import TinyLfuCore
from stores.resilience.errors import CircuitOpenError

LATENCY_WINDOW = 2048
"""How many recent request latencies per namespace feed the p50/p99."""

_COUNTERS = (
    "l1_hits", "l2_hits", "misses", "coalesced", "loader_calls", "loader_errors", "sets",
    "evictions", "expirations", "foreign_values", "unencodable", "loads_elsewhere",
    "waits_given_up",
)  # fmt: skip


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[idx]


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 0.0


class RedisHealth:
    """Whether to try Redis now, and Redis' state for `stats()`.

    With ``own_backoff`` (no guard): up, or down until a back-off (doubling from
    ``backoff_s``, capped at ``max_backoff_s``) expires; calls during it are skipped.
    Without it (a guard's circuit breaker decides): every call is tried, the breaker
    fails fast while open and lets its trial calls through once its wait is over, so
    the breaker sees every failure and L2 comes back as soon as the breaker closes.
    """

    def __init__(
        self, configured: bool, backoff_s: float, max_backoff_s: float, own_backoff: bool = True
    ) -> None:
        self.configured = configured
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.own_backoff = own_backoff
        self.up = configured
        self.down_until = 0.0
        self.failures = 0
        self.consecutive_failures = 0
        self.errors = 0
        self.recoveries = 0
        self.skipped = 0
        self.rejected = 0
        self.dropped_writes = 0
        self.last_error: str | None = None

    def should_try(self) -> bool:
        """True when Redis is up, its back-off has expired (a trial call), or the guard's
        breaker decides instead of a back-off."""
        return self.up or not self.own_backoff or time.monotonic() >= self.down_until

    def retry_in_s(self) -> float:
        """Seconds until the next trial call (0 when up; the breaker's wait with a guard)."""
        return 0.0 if self.up else max(0.0, self.down_until - time.monotonic())

    def failure(self, exc: BaseException) -> None:
        """An outage-type failure, or a call the open breaker rejected: mark down.

        With our own back-off, wait (doubling) before the next try; an open circuit's
        own wait wins over ours. Without it, only remember when the breaker expects to
        let a trial through (for `stats()`); the next call is tried anyway.
        """
        now = time.monotonic()
        if isinstance(exc, CircuitOpenError):
            self.rejected += 1
            delay = exc.retry_after_s
        else:
            self.failures += 1
            self.consecutive_failures += 1
            delay = 0.0
        if self.own_backoff:
            steps = max(0, self.consecutive_failures - 1)
            delay = max(delay, min(self.max_backoff_s, self.backoff_s * 2**steps))
        self.down_until = now + delay
        self.up = False
        self.last_error = repr(exc)

    def error(self, exc: BaseException) -> None:
        """A failed call that does not mean Redis is down (e.g. a ResponseError)."""
        self.errors += 1
        self.last_error = repr(exc)

    def success(self) -> None:
        """A call succeeded: Redis is up."""
        if not self.up:
            self.recoveries += 1
        self.up = True
        self.consecutive_failures = 0

    def snapshot(self) -> dict[str, Any]:
        """State and counters as plain data."""
        state = "disabled" if not self.configured else ("up" if self.up else "down")
        return {
            "state": state, "failures": self.failures, "errors": self.errors,
            "consecutive_failures": self.consecutive_failures, "recoveries": self.recoveries,
            "skipped_calls": self.skipped, "rejected_by_breaker": self.rejected,
            "dropped_writes": self.dropped_writes,
            "backoff": "own" if self.own_backoff else "breaker",
            "retry_in_s": round(self.retry_in_s(), 3), "last_error": self.last_error,
        }  # fmt: skip


class CacheStats:
    """Per-namespace counters and latency windows of one `TieredCache`."""

    def __init__(self) -> None:
        self._counts: defaultdict[str, dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(_COUNTERS, 0)
        )
        self._latency: defaultdict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=LATENCY_WINDOW)
        )
        self._core: TinyLfuCore | None = None
        self._health: RedisHealth | None = None
        self._provider_key: object = None

    def record(self, namespace: str, tier: str, elapsed_s: float) -> None:
        """One request answered by `tier`: l1, l2, miss or coalesced."""
        key = {"l1": "l1_hits", "l2": "l2_hits", "miss": "misses"}.get(tier, "coalesced")
        self._counts[namespace][key] += 1
        self._latency[namespace].append(elapsed_s)

    def record_many(self, namespace: str, l1: int, l2: int, misses: int, elapsed_s: float) -> None:
        """A batch read: per-key tier counts, one latency sample."""
        c = self._counts[namespace]
        c["l1_hits"] += l1
        c["l2_hits"] += l2
        c["misses"] += misses
        self._latency[namespace].append(elapsed_s)

    def _bump(self, namespace: str, counter: str, n: int = 1) -> None:
        self._counts[namespace][counter] += n

    def loader_call(self, namespace: str) -> None:
        """The loader ran once."""
        self._bump(namespace, "loader_calls")

    def loader_error(self, namespace: str) -> None:
        """The loader raised."""
        self._bump(namespace, "loader_errors")

    def loads_elsewhere(self, namespace: str, n: int) -> None:
        """`n` missed keys another caller holding their load lock (usually another process)
        loaded: found in Redis when claiming the lock or while waiting; not loaded here."""
        self._bump(namespace, "loads_elsewhere", n)

    def waits_given_up(self, namespace: str, n: int) -> None:
        """`n` keys waited for in vain (the holder's lock expired or was released without a
        value, the wait reached the lock TTL, or Redis went away): loaded here after all."""
        self._bump(namespace, "waits_given_up", n)

    def sets(self, namespace: str, n: int) -> None:
        """`n` values written."""
        self._bump(namespace, "sets", n)

    def foreign_value(self, namespace: str) -> None:
        """Bytes in Redis that are not in our format were ignored."""
        self._bump(namespace, "foreign_values")

    def unencodable(self, namespace: str) -> None:
        """A value could not be encoded and was not cached."""
        self._bump(namespace, "unencodable")

    def l1_dropped(self, namespace: str, reason: str) -> None:
        """The L1 dropped a key (reason: eviction or expiry)."""
        self._bump(namespace, "evictions" if reason == "eviction" else "expirations")

    def namespace_snapshot(self, namespace: str) -> dict[str, Any]:
        """One namespace's counters, tier hit ratios and latency percentiles."""
        c = dict(self._counts[namespace])
        l1_lookups = c["l1_hits"] + c["l2_hits"] + c["misses"]
        l2_lookups = c["l2_hits"] + c["misses"]
        requests = l1_lookups + c["coalesced"]
        lat = sorted(self._latency[namespace])
        return {
            "requests": requests,
            "hit_ratio": _ratio(requests - c["misses"], requests),
            "l1": {"hits": c["l1_hits"], "misses": l1_lookups - c["l1_hits"],
                   "hit_ratio": _ratio(c["l1_hits"], l1_lookups)},
            "l2": {"hits": c["l2_hits"], "misses": c["misses"],
                   "hit_ratio": _ratio(c["l2_hits"], l2_lookups)},
            **{k: c[k] for k in _COUNTERS if k not in ("l1_hits", "l2_hits")},
            "latency_ms": {"p50": _percentile(lat, 0.5) * 1000,
                           "p99": _percentile(lat, 0.99) * 1000, "samples": len(lat)},
        }  # fmt: skip

    def snapshot(
        self, core: TinyLfuCore | None, health: RedisHealth, inflight: int
    ) -> dict[str, Any]:
        """Everything `TieredCache.stats()` returns."""
        l1: dict[str, Any] = {}
        if core is not None:
            l1 = {
                "entries": len(core), "bytes": core.bytes, "max_entries": core.max_entries,
                "max_bytes": core.max_bytes, "evictions": core.evictions,
                "expirations": core.expirations, "rejections": core.rejections,
            }  # fmt: skip
        return {
            "namespaces": {ns: self.namespace_snapshot(ns) for ns in sorted(self._counts)},
            "l1": l1,
            "redis": health.snapshot(),
            "inflight_loads": inflight,
        }

    # -- OpenTelemetry ------------------------------------------------------------------

    def register_metrics(
        self, meter: Meter, provider_key: object, core: TinyLfuCore, health: RedisHealth
    ) -> None:
        """Report this cache through the observable instruments of its meter provider."""
        self._core, self._health, self._provider_key = core, health, provider_key
        _ensure_instruments(meter, provider_key)
        _LIVE.add(self)

    def unregister_metrics(self) -> None:
        """Stop reporting this cache (it closed)."""
        _LIVE.discard(self)


_LIVE: weakref.WeakSet[CacheStats] = weakref.WeakSet()
_INSTRUMENTS_LOCK = threading.Lock()
_instrumented: list[object] = []  # meter providers (or "global") with instruments made


def _summed(rows: Iterable[tuple[dict[str, str], float]]) -> Iterator[Observation]:
    totals: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for attrs, value in rows:
        totals[tuple(sorted(attrs.items()))] += value
    for attrs_key, value in totals.items():
        yield Observation(value, dict(attrs_key))


def _live(provider_key: object) -> list[CacheStats]:
    return [s for s in list(_LIVE) if s._provider_key == provider_key]


def _requests(provider_key: object) -> Any:
    tiers = {"l1_hits": "l1", "l2_hits": "l2", "misses": "miss", "coalesced": "coalesced"}

    def callback(_: CallbackOptions) -> Iterator[Observation]:
        return _summed(
            ({"sophia.cache.namespace": ns, "sophia.cache.tier": tier}, counts[name])
            for stats in _live(provider_key) for ns, counts in list(stats._counts.items())
            for name, tier in tiers.items()
        )  # fmt: skip

    return callback


def _counter_callback(provider_key: object, name: str) -> Any:
    def callback(_: CallbackOptions) -> Iterator[Observation]:
        return _summed(
            ({"sophia.cache.namespace": ns}, counts[name])
            for stats in _live(provider_key) for ns, counts in list(stats._counts.items())
        )  # fmt: skip

    return callback


def _l1_gauge(provider_key: object, attr: str) -> Any:
    def callback(_: CallbackOptions) -> Iterator[Observation]:
        total = sum(
            len(s._core) if attr == "entries" else s._core.bytes
            for s in _live(provider_key) if s._core is not None
        )  # fmt: skip
        yield Observation(total)

    return callback


def _redis_callback(provider_key: object) -> Any:
    def callback(_: CallbackOptions) -> Iterator[Observation]:
        rows = [
            ({"sophia.cache.redis.up": str(s._health.up).lower()}, float(s._health.failures))
            for s in _live(provider_key) if s._health is not None and s._health.configured
        ]  # fmt: skip
        return _summed(rows)

    return callback


def _ensure_instruments(meter: Meter, provider_key: object) -> None:
    with _INSTRUMENTS_LOCK:
        if any(known is provider_key or known == provider_key for known in _instrumented):
            return
        _instrumented.append(provider_key)
    key = provider_key
    meter.create_observable_counter(
        "sophia.cache.requests", [_requests(key)], description="cache requests by tier"
    )
    for name in ("loader_calls", "evictions", "foreign_values", "loads_elsewhere"):
        meter.create_observable_counter(
            f"sophia.cache.{name}", [_counter_callback(key, name)], description=f"cache {name}"
        )
    meter.create_observable_gauge("sophia.cache.l1.entries", [_l1_gauge(key, "entries")])
    meter.create_observable_gauge("sophia.cache.l1.bytes", [_l1_gauge(key, "bytes")], unit="By")
    meter.create_observable_counter("sophia.cache.redis.failures", [_redis_callback(key)])
