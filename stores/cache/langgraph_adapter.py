"""`LangGraphCache`: LangGraph's `BaseCache` over a `TieredCache`, for node `CachePolicy`.

``graph.compile(cache=tiered.as_langgraph_cache())`` stores each cached node's writes in
both tiers under one cache namespace (default ``langgraph``). LangGraph's key
``(("__pregel_ns_writes", node_id, node), hash)`` becomes ``"__pregel_ns_writes/node_id/
node/hash"``. Values go through the adapter's `serde` (LangGraph's JsonPlusSerializer
without pickle fallback) and are stored as ``[type, bytes]`` in our msgpack format, so
nothing is ever unpickled. A `CachePolicy(ttl=None)` ("never expires" in LangGraph)
gets the namespace TTL instead: the cache never holds anything forever.

The async methods (used by ``ainvoke``/``astream``) use both tiers. The sync methods use
both tiers too when called from a thread other than the one running the cache's event
loop; called on that loop's own thread (a blocking ``invoke`` inside async code) or
with no loop running, they fall back to the L1 alone rather than deadlock.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph.cache.base import BaseCache, FullKey, Namespace, ValueT
from langgraph.checkpoint.serde.base import SerializerProtocol

from stores.cache import serialization
from stores.cache.errors import CacheSerializationError

if TYPE_CHECKING:
    from stores.cache.tiered import TieredCache

T = TypeVar("T")
SYNC_TIMEOUT_S = 5.0
"""Longest a sync call waits for the cache's event loop."""


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

    # -- sync: both tiers from other threads, else L1 only ------------------------------

    def _on_other_thread(self, coro_fn: Any, *args: Any) -> tuple[bool, Any]:
        loop = self.cache.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or not loop.is_running() or running is loop:
            return False, None
        coro: Coroutine[Any, Any, Any] = coro_fn(*args)
        return True, asyncio.run_coroutine_threadsafe(coro, loop).result(SYNC_TIMEOUT_S)

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Sync `aget` (see the module doc for when it is L1 only)."""
        done, result = self._on_other_thread(self.aget, keys)
        if done:
            return result
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

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Sync `aset` (see the module doc for when it is L1 only)."""
        done, _ = self._on_other_thread(self.aset, pairs)
        if done:
            return
        core = self.cache.l1
        for (ns, key), (value, ttl) in pairs.items():
            ttl_s = self.cache.namespaces[self.namespace] if ttl is None else float(ttl)
            rkey = self.cache.redis_key(_key(ns, key), self.namespace)
            core.set(rkey, serialization.dumps(self._encode(value)), ttl_s)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Sync `aclear` (see the module doc for when it is L1 only)."""
        done, _ = self._on_other_thread(self.aclear, namespaces)
        if done:
            return
        for ns in namespaces if namespaces is not None else [()]:
            self.cache.l1.clear(self.cache.redis_key(_prefix(tuple(ns)), self.namespace))
