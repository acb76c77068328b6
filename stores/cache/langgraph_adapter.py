"""`LangGraphCache`: LangGraph's `BaseCache` over a `TieredCache`, for node `CachePolicy`.

``graph.compile(cache=tiered.as_langgraph_cache())`` stores each cached node's writes in
both tiers under one cache namespace (default ``langgraph``). LangGraph's key
``(("__pregel_ns_writes", node_id, node), hash)`` becomes ``"__pregel_ns_writes/node_id/
node/hash"``. Values go through the adapter's `serde` (LangGraph's JsonPlusSerializer
without pickle fallback) and are stored as ``[type, bytes]`` in our msgpack format, so
nothing is ever unpickled. A `CachePolicy(ttl=None)` ("never expires" in LangGraph)
gets the namespace TTL instead: the cache never holds anything forever.

The async methods (used by ``ainvoke``/``astream``) use both tiers. The sync methods
(a blocking ``invoke``) never wait on a blocked event loop:

* on the thread running the cache's event loop (a blocking ``invoke`` inside async code)
  or with no loop running, ``get`` reads the L1 alone: the loop cannot run anything until
  the blocking call returns. Such a call also marks the loop *blocked* until it next runs a
  callback (``call_soon``), which it does only once the blocking call has returned;
* ``set`` and ``clear`` (LangGraph writes the cache from its background threads) apply
  to the L1 at once and hand the Redis write to the loop without waiting for it: it
  lands, in the order the calls were made, when the loop is free;
* ``get`` from another thread reads the L1, then asks the loop for the misses when the
  loop is not marked blocked, waiting at most `SYNC_TIMEOUT_S`; past that (a loop
  blocked by a call that never touched this cache) it answers from the L1 alone and
  logs a warning. It never raises because the loop was busy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph.cache.base import BaseCache, FullKey, Namespace, ValueT
from langgraph.checkpoint.serde.base import SerializerProtocol

from stores.cache import serialization
from stores.cache.errors import CacheSerializationError

if TYPE_CHECKING:
    from stores.cache.tiered import TieredCache

logger = logging.getLogger(__name__)

T = TypeVar("T")
SYNC_TIMEOUT_S = 5.0
"""Longest a sync ``get`` on another thread waits for the cache's event loop."""


def _key(ns: Namespace, key: str) -> str:
    return "/".join((*ns, key))


def _prefix(ns: Namespace) -> str:
    return "/".join(ns) + "/" if ns else ""


class LangGraphCache(BaseCache[ValueT]):
    """LangGraph `BaseCache` whose entries live in a `TieredCache` namespace."""

    def __init__(
        self, cache: TieredCache, namespace: str, *, serde: SerializerProtocol | None = None
    ) -> None:
        super().__init__(serde=serde)
        self.cache = cache
        self.namespace = namespace
        self._loop_blocked = False
        self._deferred: asyncio.Lock | None = None

    def _encode(self, value: ValueT) -> list[Any]:
        kind, data = self.serde.dumps_typed(value)
        return [kind, data]

    def _decode(self, stored: Any) -> ValueT:
        kind, data = stored
        return self.serde.loads_typed((kind, data))

    # -- async: both tiers --------------------------------------------------------------

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Cached values of the given keys (hits only)."""
        if not keys:
            return {}
        wanted = {_key(ns, key): (ns, key) for ns, key in keys}
        hits = await self.cache.get_many(list(wanted), self.namespace)
        found: dict[FullKey, ValueT] = {}
        for k, stored in hits.items():
            try:
                found[wanted[k]] = self._decode(stored)
            except (ValueError, TypeError):  # not a [type, bytes] pair: treat as a miss
                continue
        return found

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Store values, grouped by TTL (None: the namespace TTL); one batch per TTL."""
        by_ttl: defaultdict[int | None, dict[str, Any]] = defaultdict(dict)
        for (ns, key), (value, ttl) in pairs.items():
            by_ttl[ttl][_key(ns, key)] = self._encode(value)
        for ttl, items in by_ttl.items():
            await self.cache.set_many(items, self.namespace, ttl=None if ttl is None else ttl)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete the entries of the given LangGraph namespaces (all if None)."""
        for ns in namespaces if namespaces is not None else [()]:
            await self.cache.clear(self.namespace, _prefix(tuple(ns)))

    # -- sync: never wait on a blocked loop (see the module doc) ------------------------

    def _free_loop(self) -> asyncio.AbstractEventLoop | None:
        """The cache's loop when another thread may use it; None: L1 only.

        Called on the loop's own thread, it marks the loop blocked until the loop runs
        its next callback (the blocking call has returned by then).
        """
        loop = self.cache.loop
        if loop is None or not loop.is_running():
            return None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            if not self._loop_blocked:
                self._loop_blocked = True
                loop.call_soon(self._unblock)
            return None
        return loop

    def _unblock(self) -> None:
        self._loop_blocked = False

    def _l1_get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        core = self.cache.l1
        found: dict[FullKey, ValueT] = {}
        for ns, key in keys:
            raw = core.get(self.cache.redis_key(_key(ns, key), self.namespace))
            if raw is not None:
                try:
                    found[(ns, key)] = self._decode(serialization.loads(raw))
                except (CacheSerializationError, ValueError, TypeError):
                    continue
        return found

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Sync `aget`: the L1, then the loop for the misses when it is free."""
        found = self._l1_get(keys)
        missing = [k for k in keys if k not in found]
        loop = self._free_loop()
        if not missing or loop is None or self._loop_blocked:
            return found
        future = asyncio.run_coroutine_threadsafe(self.aget(missing), loop)
        try:
            found.update(future.result(SYNC_TIMEOUT_S))
        except concurrent.futures.TimeoutError:
            future.cancel()
            logger.warning(
                "cache namespace %s: the event loop stayed busy for %gs; answered from L1",
                self.namespace, SYNC_TIMEOUT_S,
            )  # fmt: skip
        return found

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Sync `aset`: the L1 now; both tiers later, on the loop, when it is free."""
        core = self.cache.l1
        for (ns, key), (value, ttl) in pairs.items():
            ttl_s = self.cache.namespaces[self.namespace] if ttl is None else float(ttl)
            rkey = self.cache.redis_key(_key(ns, key), self.namespace)
            core.set(rkey, serialization.dumps(self._encode(value)), ttl_s)
        self._later(self.aset, dict(pairs))

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Sync `aclear`: the L1 now; both tiers later, on the loop, when it is free."""
        for ns in namespaces if namespaces is not None else [()]:
            self.cache.l1.clear(self.cache.redis_key(_prefix(tuple(ns)), self.namespace))
        self._later(self.aclear, namespaces)

    def _later(self, coro_fn: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``coro_fn(*args)`` on the cache's loop without waiting for it."""
        loop = self._free_loop()
        if loop is None and self.cache.loop is not None and self.cache.loop.is_running():
            loop = self.cache.loop  # blocked by this very thread: runs once it returns
        if loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._in_order(coro_fn, *args), loop)
        future.add_done_callback(self._log_failure)

    async def _in_order(
        self, coro_fn: Callable[..., Coroutine[Any, Any, None]], *args: Any
    ) -> None:
        # Deferred writes and clears land in the order they were made: a clear made
        # after a set is never overtaken by that set's Redis write.
        if self._deferred is None:
            self._deferred = asyncio.Lock()
        async with self._deferred:
            await coro_fn(*args)

    def _log_failure(self, future: concurrent.futures.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.warning("cache namespace %s: a deferred write failed", self.namespace,
                           exc_info=future.exception())  # fmt: skip
