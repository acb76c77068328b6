"""The two tiers under `TieredCache`: read L1 then Redis (promoting hits), write both.

Keys here are full Redis keys (``{prefix}{namespace}:{key}``, also the L1 keys); values
are encoded once with `stores.cache.serialization` and kept encoded in both tiers. Redis
failures never leave this module: a read that cannot reach Redis is a miss, a write or
delete that cannot is dropped and counted (``dropped_writes``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stores.cache import serialization
from stores.cache.errors import CacheSerializationError, RedisUnavailable
from stores.cache.l1 import TinyLfuCore
from stores.cache.stats import CacheStats, RedisHealth

if TYPE_CHECKING:
    from stores.cache.l2 import RedisTier

log = logging.getLogger(__name__)

MISS: Any = object()
"""What a read returns for a key that no tier holds."""

Unlock = tuple[Sequence[str], str]
"""Load locks to release after a write: (lock keys, the token they are held with)."""


class Tiers:
    """L1 (`TinyLfuCore`) over an optional L2 (`RedisTier`), with the cache's counters."""

    def __init__(
        self,
        l1: TinyLfuCore,
        l2: RedisTier | None,
        stats: CacheStats,
        health: RedisHealth,
        batch_size: int,
    ) -> None:
        self.l1 = l1
        self.l2 = l2
        self._stats = stats
        self._health = health
        self._batch_size = batch_size

    # -- reads --------------------------------------------------------------------------

    def l1_get(self, rkey: str) -> Any:
        """The decoded L1 value of ``rkey``, or `MISS`."""
        raw = self.l1.get(rkey)
        if raw is None:
            return MISS
        try:
            return serialization.loads(raw)
        except CacheSerializationError:  # cannot happen for bytes we encoded; be safe
            self.l1.delete(rkey)
            return MISS

    async def lookup(self, rkey: str, namespace: str, ns_ttl: float) -> tuple[Any, str]:
        """``(value, tier)``: from L1, else L2 (promoted to L1), else ``(MISS, "miss")``."""
        value = self.l1_get(rkey)
        if value is not MISS:
            return value, "l1"
        return await self.lookup_l2(rkey, namespace, ns_ttl)

    async def lookup_l2(self, rkey: str, namespace: str, ns_ttl: float) -> tuple[Any, str]:
        """``(value, "l2")`` if Redis holds ``rkey`` (promoted to L1), else ``(MISS, "miss")``."""
        got = await self.l2_many([rkey], namespace, ns_ttl)
        return (got[rkey], "l2") if rkey in got else (MISS, "miss")

    async def read_many(
        self, rkeys: Sequence[str], namespace: str, ns_ttl: float
    ) -> tuple[dict[str, Any], int, int]:
        """The values found for ``rkeys`` (L1 first, the rest from Redis in batches), and
        how many came from L1 and from L2."""
        found: dict[str, Any] = {}
        for rkey in rkeys:
            if rkey not in found:
                value = self.l1_get(rkey)
                if value is not MISS:
                    found[rkey] = value
        l1_hits = len(found)
        missing = [k for k in dict.fromkeys(rkeys) if k not in found]
        for i in range(0, len(missing), self._batch_size):
            found |= await self.l2_many(missing[i : i + self._batch_size], namespace, ns_ttl)
        return found, l1_hits, len(found) - l1_hits

    async def l2_many(self, rkeys: list[str], namespace: str, ns_ttl: float) -> dict[str, Any]:
        """Values found in Redis for ``rkeys`` (one round trip), promoted to L1 with their
        remaining Redis TTL (never longer than ``ns_ttl``)."""
        if self.l2 is None:
            return {}
        try:
            raws, pttls = await self.l2.get_with_ttl(rkeys)
        except RedisUnavailable:
            return {}
        return self.accept_l2(rkeys, raws, pttls, namespace, ns_ttl)

    def accept_l2(
        self, rkeys: Sequence[str], raws: Sequence[Any], pttls: Sequence[int], namespace: str,
        ns_ttl: float,
    ) -> dict[str, Any]:  # fmt: skip
        """Decode raw values read from Redis (None: absent) and promote them to L1 with
        their remaining TTL (``pttls`` in ms; never longer than ``ns_ttl``); bytes that are
        not ours are skipped and counted (``foreign_values``)."""
        found: dict[str, Any] = {}
        for rkey, raw, pttl in zip(rkeys, raws, pttls, strict=True):
            if raw is None or pttl == -2:
                continue
            try:
                value = serialization.loads(raw)
            except CacheSerializationError as exc:
                self._stats.foreign_value(namespace)
                log.warning("ignoring Redis key %s: %s", rkey, exc)
                continue
            found[rkey] = value
            remaining = ns_ttl if pttl < 0 else min(pttl / 1000.0, ns_ttl)
            self.l1.set(rkey, bytes(raw), remaining)
        return found

    # -- writes -------------------------------------------------------------------------

    async def store(
        self, items: Mapping[str, Any], namespace: str, ttl: float, strict: bool,
        unlock: Unlock | None = None,
    ) -> None:  # fmt: skip
        """Encode and write ``items`` to both tiers for ``ttl`` seconds.

        With ``strict`` a value that cannot be encoded raises `CacheSerializationError`;
        without, it is skipped and counted (``unencodable``). With ``unlock`` (lock keys,
        token), those load locks are released in the round trip of the last write, after
        every value is in Redis.
        """
        encoded: list[tuple[str, bytes]] = []
        for rkey, value in items.items():
            try:
                data = serialization.dumps(value)
            except CacheSerializationError:
                if strict:
                    raise
                self._stats.unencodable(namespace)
                log.warning("not caching %s: value cannot be encoded", rkey, exc_info=True)
                continue
            self.l1.set(rkey, data, ttl)
            encoded.append((rkey, data))
        self._stats.sets(namespace, len(encoded))
        if self.l2 is None:
            return
        locks, token = unlock if unlock is not None and unlock[0] else ((), "")
        if not encoded:
            if locks:
                await self._write_l2(self.l2.unlock(locks, token), 0)
            return
        last = (len(encoded) - 1) // self._batch_size * self._batch_size
        for i in range(0, len(encoded), self._batch_size):
            chunk = encoded[i : i + self._batch_size]
            write = (
                self.l2.set_many_and_unlock(chunk, ttl, locks, token)
                if locks and i == last
                else self.l2.set_many(chunk, ttl)
            )
            await self._write_l2(write, len(chunk))

    async def delete(self, rkey: str) -> None:
        """Remove ``rkey`` from both tiers."""
        self.l1.delete(rkey)
        if self.l2 is not None:
            await self._write_l2(self.l2.delete(rkey))

    async def clear(self, prefix: str) -> None:
        """Remove every key starting with ``prefix`` from both tiers."""
        self.l1.clear(prefix)
        if self.l2 is not None:
            await self._write_l2(self.l2.delete_prefix(prefix))

    async def _write_l2(self, write: Awaitable[None], writes: int = 1) -> None:
        """Await an L2 write; while Redis is unavailable it is dropped and counted."""
        try:
            await write
        except RedisUnavailable:
            self._health.dropped_writes += writes
