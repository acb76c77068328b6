"""`TieredCache`: a bounded in-process L1 (W-TinyLFU) over a Redis L2, per-namespace TTLs.

Read path: L1 -> L2 (a hit is promoted to L1 with the key's remaining Redis TTL, never
longer than the namespace TTL) -> the loader. Writes go to both tiers. Values are
encoded once with `stores.cache.serialization` (msgpack + ext types, never pickle); bytes in
Redis that are not ours count as a miss (``foreign_values`` in `stats()`).

The L1 is `stores.cache.l1.TinyLfuCore`, held in process; the L2 (`stores.cache.l2.RedisTier`)
is aiocache's `RedisCache` on redis-py's asyncio client with a bounded connection pool and
short socket timeouts. A batch of keys costs one round trip to Redis, reading (values +
PTTLs by one script) or writing (pipelined MSET). How the two are read and written is
`stores.cache.tiers`; the namespaces are `stores.cache.namespaces`.

Redis is optional and never fatal: while it is down the cache serves L1 + loader and
drops L2 writes, counting both. With a `guard` (the engine passes its ``"redis"`` guard),
the guard's circuit breaker decides when Redis is tried: it sees every failure, opens,
fails fast while open (no I/O), and its trial calls bring L2 back as soon as Redis is
back. Without a guard the cache backs off on its own: a refused connection or a timeout
marks Redis down for ``backoff_s`` (doubling up to ``max_backoff_s``), and the first call
after the back-off is the trial.

Namespaces are an allow-list: `DEFAULT_TTLS`, plus/overridden by ``ttls=``, plus
`register_namespace`. An unknown namespace raises `UnknownNamespaceError`.

`get_or_load` runs the loader once per key however many callers wait in this process
(`stores.cache.single_flight`: a cancelled caller never cancels the load; a loader error
reaches every waiter and is not cached). With ``lock_ttl_s`` (and Redis), a short Redis
lock per key keeps other processes from loading the same key at once: they wait for the
value to land in Redis, at most ``lock_ttl_s`` (`stores.cache.load_locks`). Batch loaders
(the warehouse's) do the same for many keys: `claim_loads`, `await_loads`,
`complete_loads`, `release_loads`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics

from stores.cache.l1 import TinyLfuCore
from stores.cache.load_locks import LoadClaim, LoadLocks
from stores.cache.lookup_trace import trace_lookup
from stores.cache.namespaces import DEFAULT_TTLS, Namespaces
from stores.cache.single_flight import SingleFlight
from stores.cache.stats import CacheStats, RedisHealth
from stores.cache.tiers import MISS, Tiers
from stores.errors import ConfigurationError
from telemetry.deferred_histogram import DeferredHistogram

if TYPE_CHECKING:
    from stores.cache.l2 import RedisTier
    from stores.cache.langgraph_adapter import LangGraphCache
    from stores.resilience.call_guard import CallGuard

__all__ = ["DEFAULT_TTLS", "TieredCache"]


class TieredCache:
    """Two-tier cache: bounded W-TinyLFU L1 in process, Redis L2, per-namespace TTLs.

    Use as ``async with TieredCache(redis_url=..., ...) as cache:``. Without `redis_url`
    it is L1 only. No method raises because Redis failed; only programming errors
    (unknown namespace, `set` of a value that cannot be encoded) raise.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        l1_max_entries: int = 10_000,
        l1_max_bytes: int = 64 * 1024 * 1024,
        ttls: Mapping[str, float] | None = None,
        key_prefix: str = "sophia:",
        guard: CallGuard | None = None,
        *,
        redis_pool_size: int = 16,
        redis_timeout_s: float = 0.25,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        batch_size: int = 500,
        lock_ttl_s: float | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.guard = guard
        self._namespaces = Namespaces(ttls)
        self._l1_max_entries = l1_max_entries
        self._l1_max_bytes = l1_max_bytes
        self._batch_size = max(1, batch_size)
        self._lock_ttl_s = lock_ttl_s
        # With a guard, its breaker replaces our back-off (backoff_s/max_backoff_s unused).
        self._health = RedisHealth(configured=redis_url is not None, backoff_s=backoff_s,
                                   max_backoff_s=max_backoff_s,
                                   own_backoff=guard is None)  # fmt: skip
        self._l2 = None if redis_url is None else _redis_tier()(
            redis_url, self._health, pool_size=redis_pool_size, timeout_s=redis_timeout_s,
            guard=guard,
        )  # fmt: skip
        self._tiers: Tiers | None = None
        self._locks: LoadLocks | None = None
        self._stats = CacheStats()
        self._loads = SingleFlight()
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop the cache was opened on (None when closed)."""
        # The meter provider defaults to the global one (no-op until telemetry.configure()).
        self._meter = metrics.get_meter("sophia.cache", meter_provider=meter_provider)
        self._meter_key: object = meter_provider if meter_provider is not None else "global"
        self._duration = DeferredHistogram(
            self._meter,
            "sophia.cache.duration",
            unit="ms",
            description="get_or_load / get_many latency",
            # L1 answers in microseconds, L2 in about a millisecond, a load in tens.
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000),
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> TieredCache:
        self.loop = asyncio.get_running_loop()
        l1 = TinyLfuCore(self._l1_max_entries, self._l1_max_bytes)
        l1.listener = self._on_l1_drop
        self._tiers = Tiers(l1, self._l2, self._stats, self._health, self._batch_size)
        self._locks = LoadLocks(self._tiers, self._l2, self._stats, self._lock_ttl_s,
                                self._batch_size)  # fmt: skip
        self._stats.register_metrics(self._meter, self._meter_key, l1, self._health)
        if self._l2 is not None:
            await self._l2.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self._loads.cancel_all()
        if self._l2 is not None:
            await self._l2.close()
        self._stats.unregister_metrics()
        self.loop = None

    # -- namespaces ---------------------------------------------------------------------

    def register_namespace(self, name: str, ttl_s: float) -> None:
        """Allow namespace `name` with default TTL `ttl_s` seconds (re-registering updates it)."""
        self._namespaces.register(name, ttl_s)

    @property
    def namespaces(self) -> dict[str, float]:
        """Known namespaces and their default TTLs in seconds."""
        return self._namespaces.as_dict()

    def redis_key(self, key: str, namespace: str) -> str:
        """The Redis key (also the L1 key) of `key`: ``{prefix}{namespace}:{key}``."""
        return f"{self.key_prefix}{namespace}:{key}"

    @property
    def l1(self) -> TinyLfuCore:
        """The L1 (open caches only): Redis keys -> encoded values."""
        return self._open_tiers().l1

    def _open_tiers(self) -> Tiers:
        if self._tiers is None:
            raise ConfigurationError("the cache is not open: use `async with TieredCache(...)`")
        return self._tiers

    # -- reads --------------------------------------------------------------------------

    async def get(self, key: str, namespace: str, default: Any = None) -> Any:
        """The cached value (L1, then L2 with promotion) or `default` on a miss."""
        start = time.perf_counter()
        ns_ttl = self._namespaces.ttl(namespace)
        tiers = self._open_tiers()
        value, tier = await tiers.lookup(self.redis_key(key, namespace), namespace, ns_ttl)
        self._stats.record(namespace, tier, time.perf_counter() - start)
        return default if value is MISS else value

    async def get_many(self, keys: Sequence[str], namespace: str) -> dict[str, Any]:
        """Hits only: {key: value} for the keys found in L1 or L2 (one L2 round trip per batch)."""
        ns_ttl = self._namespaces.ttl(namespace)
        start = time.perf_counter()
        rkeys = {k: self.redis_key(k, namespace) for k in keys}
        got, l1_hits, l2_hits = await self._open_tiers().read_many(
            list(rkeys.values()), namespace, ns_ttl
        )
        found = {k: got[rkey] for k, rkey in rkeys.items() if rkey in got}
        misses = len(rkeys) - len(found)
        elapsed = time.perf_counter() - start
        self._stats.record_many(namespace, l1_hits, l2_hits, misses, elapsed)
        self._duration.record(
            elapsed * 1000,
            {"sophia.cache.namespace": namespace, "sophia.cache.operation": "get_many"},
        )
        tier = "miss" if misses else ("l2" if l2_hits else "l1")
        trace_lookup(
            "get_many", namespace, tier, elapsed * 1000,
            l1_hits=l1_hits, l2_hits=l2_hits, misses=misses,
        )  # fmt: skip
        return found

    async def get_or_load(
        self, key: str, namespace: str, loader: Callable[[], Awaitable[Any]],
        ttl: float | None = None,
    ) -> Any:  # fmt: skip
        """The cached value, or `loader()`'s result (cached in both tiers).

        Concurrent callers for one key share one loader call; a loader exception is
        raised to all of them and nothing is cached.
        """
        entry_ttl = self._namespaces.ttl(namespace, ttl)
        start = time.perf_counter()
        try:
            value, tier, joined = await self._get_or_join(
                self.redis_key(key, namespace), namespace, loader, entry_ttl
            )
        finally:
            elapsed = time.perf_counter() - start
            self._duration.record(
                elapsed * 1000,
                {"sophia.cache.namespace": namespace, "sophia.cache.operation": "get_or_load"},
            )
        # A waiter that joined another caller's load neither hit nor ran the loader.
        self._stats.record(namespace, "coalesced" if joined else tier, elapsed)
        found_in = "coalesced" if joined else tier  # l1, l2 or miss (loaded)
        trace_lookup(
            "get_or_load", namespace, tier, elapsed * 1000,
            l1_hits=int(found_in == "l1"), l2_hits=int(found_in == "l2"),
            misses=int(found_in == "miss"), coalesced=int(joined),
        )  # fmt: skip
        return value

    async def _get_or_join(
        self, rkey: str, namespace: str, loader: Callable[[], Awaitable[Any]], ttl: float
    ) -> tuple[Any, str, bool]:
        tiers = self._open_tiers()
        if not self._loads.joinable(rkey):
            value = tiers.l1_get(rkey)
            if value is not MISS:
                return value, "l1", False
        locks, ns_ttl = self._open_locks(), self._namespaces.ttl(namespace)
        (value, tier), joined = await self._loads.run(
            rkey, lambda: locks.load_one(rkey, namespace, ns_ttl, loader, ttl)
        )
        return value, tier, joined

    # -- writes -------------------------------------------------------------------------

    async def set(self, key: str, value: Any, namespace: str, ttl: float | None = None) -> None:
        """Store `value` in both tiers for `ttl` (default: the namespace TTL) seconds.

        Raises CacheSerializationError if the value cannot be encoded; a Redis failure
        only drops the L2 write (counted in `stats()`).
        """
        entry_ttl = self._namespaces.ttl(namespace, ttl)
        await self._open_tiers().store(
            {self.redis_key(key, namespace): value}, namespace, entry_ttl, strict=True
        )

    async def set_many(
        self, items: Mapping[str, Any], namespace: str, ttl: float | None = None
    ) -> None:
        """Store every item in both tiers (one pipelined L2 round trip per batch).

        Values that cannot be encoded are skipped and counted (``unencodable``).
        """
        entry_ttl = self._namespaces.ttl(namespace, ttl)
        keyed = {self.redis_key(k, namespace): v for k, v in items.items()}
        await self._open_tiers().store(keyed, namespace, entry_ttl, strict=False)

    async def delete(self, key: str, namespace: str) -> None:
        """Remove `key` from both tiers (the L2 delete is dropped if Redis is down)."""
        self._namespaces.ttl(namespace)
        await self._open_tiers().delete(self.redis_key(key, namespace))

    async def clear(self, namespace: str, key_prefix: str = "") -> None:
        """Remove every key of `namespace` starting with `key_prefix` from both tiers."""
        self._namespaces.ttl(namespace)
        await self._open_tiers().clear(self.redis_key(key_prefix, namespace))

    async def warm(
        self, namespace: str, keys: Sequence[str],
        loader: Callable[[list[str]], Awaitable[Mapping[str, Any]]],
    ) -> dict[str, int]:  # fmt: skip
        """Fill both tiers for `keys` in batches: cached keys are kept (L2 hits promoted
        to L1), the rest come from ``await loader(missing_keys)``. Returns counts.
        """
        self._namespaces.ttl(namespace)
        cached = loaded = 0
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), self._batch_size):
            chunk = unique[i : i + self._batch_size]
            hits = await self.get_many(chunk, namespace)
            cached += len(hits)
            missing = [k for k in chunk if k not in hits]
            if missing:
                self._stats.loader_call(namespace)
                values = await loader(missing)
                await self.set_many(dict(values), namespace)
                loaded += len(values)
        return {"cached": cached, "loaded": loaded}

    # -- cross-process load locks (stores.cache.load_locks) ------------------------------

    async def claim_loads(self, keys: Sequence[str], namespace: str) -> LoadClaim:
        """Claim the load locks of `keys` that a read missed (one Redis round trip; none
        without Redis or ``lock_ttl_s``). Load ``claim.mine``, `await_loads` for
        ``claim.theirs``, store what was loaded with `complete_loads`, and call
        `release_loads` when done (in a ``finally``). ``claim.found``: values that arrived
        since the read."""
        ns_ttl = self._namespaces.ttl(namespace)
        rkeys = {k: self.redis_key(k, namespace) for k in dict.fromkeys(keys)}
        claim = await self._open_locks().claim(rkeys, namespace, ns_ttl)
        self._stats.loads_elsewhere(namespace, len(claim.found))  # landed since the read
        return claim

    async def await_loads(self, claim: LoadClaim) -> dict[str, Any]:
        """The values of ``claim.theirs`` that other processes stored, waiting at most the
        lock TTL; load the keys missing from it yourself (never raises for Redis)."""
        return await self._open_locks().wait(claim, self._namespaces.ttl(claim.namespace))

    async def complete_loads(
        self, claim: LoadClaim, items: Mapping[str, Any], ttl: float | None = None
    ) -> None:
        """`set_many` of loaded values that also releases their locks, in the same round trip."""
        entry_ttl = self._namespaces.ttl(claim.namespace, ttl)
        await self._open_locks().complete(claim, items, entry_ttl)

    async def release_loads(self, claim: LoadClaim) -> None:
        """Release the locks the claim still holds (loads that failed); no I/O if none."""
        await self._open_locks().release(claim)

    @property
    def lock_ttl_s(self) -> float:
        """The load locks' TTL in seconds; 0 when they are off (no Redis, or no TTL given)."""
        return max(0.0, self._lock_ttl_s or 0.0) if self._l2 is not None else 0.0

    def _open_locks(self) -> LoadLocks:
        if self._locks is None:
            raise ConfigurationError("the cache is not open: use `async with TieredCache(...)`")
        return self._locks

    # -- stats --------------------------------------------------------------------------

    def _on_l1_drop(self, rkey: str, reason: str) -> None:
        rest = rkey[len(self.key_prefix) :] if rkey.startswith(self.key_prefix) else rkey
        self._stats.l1_dropped(rest.split(":", 1)[0], reason)

    def stats(self) -> dict[str, Any]:
        """Per-namespace hits/misses/hit ratios per tier, loader calls, evictions, loads
        left to other processes (``loads_elsewhere``, ``waits_given_up``), latency
        percentiles; L1 occupancy; Redis state (up/down/disabled, failures)."""
        core = self._tiers.l1 if self._tiers is not None else None
        return self._stats.snapshot(core, self._health, inflight=len(self._loads))

    def as_langgraph_cache(
        self, namespace: str = "langgraph", ttl_s: float = 3600.0
    ) -> LangGraphCache:
        """A LangGraph `BaseCache` over this cache (node `CachePolicy` results in both tiers).

        Registers `namespace` with default TTL `ttl_s` if it is not known yet.
        """
        from stores.cache.langgraph_adapter import LangGraphCache

        if namespace not in self._namespaces:
            self.register_namespace(namespace, ttl_s)
        return LangGraphCache(self, namespace)


def _redis_tier() -> type[RedisTier]:
    # redis-py and aiocache cost ~0.5 s to import: only a cache with an L2 pays for them.
    from stores.cache.l2 import RedisTier

    return RedisTier
