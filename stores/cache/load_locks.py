"""Cross-process single-flight: short Redis locks so one process loads a missing key.

Every process sharing the L2 takes a key's load lock (``{rkey}:lock``, SET NX PX with a
token of the claim) before loading it; a process that finds the lock taken waits for
the value to land in Redis instead of loading it too. A batch of keys costs one round
trip to claim (`RedisTier.claim`: a script that, per key, returns the value if it is
there by now, wins the lock, or reports the other holder's lock) and none to release:
the release rides on the write of the loaded values (`Tiers.store` with ``unlock``).

Waiting polls with the same claim script (backing off from 10 ms to 100 ms): a value
that landed is taken, a lock that expired (a holder that died) or was released without
a value (a holder whose load failed) is won, and the key is loaded here. Nobody waits
longer than the lock TTL from the claim. Redis failures mean "no lock": the keys are
loaded here, as without Redis; nothing here raises because Redis failed.

The lock TTL bounds how long a dead holder delays the others, and should exceed a
typical load: a load slower than it is repeated by the next process that misses.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stores.cache.errors import RedisUnavailable
from stores.cache.stats import CacheStats
from stores.cache.tiers import MISS, Tiers

if TYPE_CHECKING:
    from stores.cache.l2 import RedisTier

_FOUND, _WON = 2, 1
_FIRST_POLL_S = 0.01
_MAX_POLL_S = 0.1


def lock_key(rkey: str) -> str:
    """The load lock of Redis key `rkey`."""
    return f"{rkey}:lock"


@dataclass(eq=False)
class LoadClaim:
    """What claiming the load locks of a batch's missing keys decided.

    ``found``: values that reached Redis since the caller's read (nothing to load).
    ``mine``: keys this caller loads (it holds their locks, or locking is off or Redis
    unavailable). ``theirs``: keys another caller is loading (`TieredCache.await_loads`).
    """

    namespace: str
    found: dict[str, Any] = field(default_factory=dict)
    mine: list[str] = field(default_factory=list)
    theirs: list[str] = field(default_factory=list)
    waited_s: float = 0.0
    """How long `await_loads` waited for ``theirs``."""
    token: str = ""
    rkeys: dict[str, str] = field(default_factory=dict)  # key -> Redis key
    held: set[str] = field(default_factory=set)  # Redis keys whose locks this claim holds
    deadline: float = 0.0  # monotonic: nobody waits past it


class LoadLocks:
    """The load locks of one `TieredCache` (see the module docstring)."""

    def __init__(
        self, tiers: Tiers, l2: RedisTier | None, stats: CacheStats, ttl_s: float | None,
        batch_size: int,
    ) -> None:  # fmt: skip
        self._tiers = tiers
        self._l2 = l2
        self._stats = stats
        self.ttl_s = ttl_s if ttl_s and ttl_s > 0 else 0.0
        self._batch_size = batch_size

    @property
    def enabled(self) -> bool:
        """True when there is an L2 and a lock TTL (otherwise every claim is all "mine")."""
        return self._l2 is not None and self.ttl_s > 0

    async def claim(self, rkeys: Mapping[str, str], namespace: str, ns_ttl: float) -> LoadClaim:
        """Claim the load locks of `rkeys` (key -> Redis key): one round trip per batch of
        keys, none when locking is off. Values already in Redis come back in ``found``."""
        claim = LoadClaim(namespace, rkeys=dict(rkeys))
        if not self.enabled or not rkeys:
            claim.mine = list(rkeys)
            return claim
        claim.token = secrets.token_hex(8)
        claim.deadline = time.monotonic() + self.ttl_s
        try:
            claim.mine, claim.theirs = await self._claim_round(
                claim, list(rkeys), ns_ttl, claim.found
            )
        except RedisUnavailable:  # no lock: load everything here, as without Redis
            claim.mine = [k for k in rkeys if k not in claim.found]
            claim.theirs = []
        return claim

    async def wait(self, claim: LoadClaim, ns_ttl: float) -> dict[str, Any]:
        """Wait for ``claim.theirs``: the values that landed in Redis. The keys missing from
        the answer are the caller's to load (the claim holds the locks it won on the way)."""
        if not claim.theirs:
            return {}
        start = time.monotonic()
        pending = list(claim.theirs)
        landed: dict[str, Any] = {}
        delay = _FIRST_POLL_S
        while pending:
            left = claim.deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 1.5, _MAX_POLL_S)
            try:
                _, pending = await self._claim_round(claim, pending, ns_ttl, landed)
            except RedisUnavailable:
                break
        claim.waited_s = time.monotonic() - start
        self._stats.loads_elsewhere(claim.namespace, len(landed))
        self._stats.waits_given_up(claim.namespace, len(claim.theirs) - len(landed))
        return landed

    async def load_one(
        self, rkey: str, namespace: str, ns_ttl: float, loader: Callable[[], Awaitable[Any]],
        ttl: float,
    ) -> tuple[Any, str]:  # fmt: skip
        """``(value, tier)`` of a key L1 missed: Redis' (``"l2"``, maybe after waiting for
        another process's load), else ``loader()``'s, stored in both tiers (``"miss"``)."""
        if not self.enabled:
            value, tier = await self._tiers.lookup_l2(rkey, namespace, ns_ttl)
            if value is not MISS:
                return value, tier
        # With locks the claim reads Redis too: one round trip reads or locks the key.
        claim = await self.claim({rkey: rkey}, namespace, ns_ttl)
        try:
            got = claim.found or await self.wait(claim, ns_ttl)
            if rkey in got:
                return got[rkey], "l2"
            self._stats.loader_call(namespace)
            try:
                value = await loader()
            except Exception:
                self._stats.loader_error(namespace)
                raise
            await self.complete(claim, {rkey: value}, ttl)
            return value, "miss"
        finally:
            await self.release(claim)

    async def complete(self, claim: LoadClaim, items: Mapping[str, Any], ttl: float) -> None:
        """Store the loaded `items` (key -> value) in both tiers and release their locks in
        the same round trip."""
        keyed = {claim.rkeys.get(k) or k: v for k, v in items.items()}
        done = [rkey for rkey in keyed if rkey in claim.held]
        claim.held.difference_update(done)
        unlock = ([lock_key(r) for r in done], claim.token)
        await self._tiers.store(keyed, claim.namespace, ttl, strict=False, unlock=unlock)

    async def release(self, claim: LoadClaim) -> None:
        """Release every lock the claim still holds (a load that failed); no I/O if none."""
        if not claim.held or self._l2 is None:
            return
        locks = [lock_key(r) for r in claim.held]
        claim.held.clear()
        try:
            await self._l2.unlock(locks, claim.token)
        except RedisUnavailable:
            pass  # the locks expire by themselves

    async def _claim_round(
        self, claim: LoadClaim, keys: Sequence[str], ns_ttl: float, found_into: dict[str, Any]
    ) -> tuple[list[str], list[str]]:
        """Claim `keys` (one round trip per batch): values found go to `found_into`, locks
        won to ``claim.held``. Returns (keys to load here, keys another caller holds).
        Raises `RedisUnavailable` (keys of earlier batches stay claimed)."""
        assert self._l2 is not None
        load_here: list[str] = []
        held_elsewhere: list[str] = []
        for i in range(0, len(keys), self._batch_size):
            chunk = keys[i : i + self._batch_size]
            pairs = [(claim.rkeys[k], lock_key(claim.rkeys[k])) for k in chunk]
            answers = await self._l2.claim(pairs, claim.token, self.ttl_s)
            found: list[tuple[str, Any, int]] = []
            for key, (status, raw, pttl) in zip(chunk, answers, strict=True):
                if status == _FOUND:
                    found.append((claim.rkeys[key], raw, pttl))
                elif status == _WON:
                    load_here.append(key)
                    claim.held.add(claim.rkeys[key])
                else:
                    held_elsewhere.append(key)
            if found:
                values = self._tiers.accept_l2(
                    [r for r, _, _ in found], [raw for _, raw, _ in found],
                    [p for _, _, p in found], claim.namespace, ns_ttl,
                )  # fmt: skip
                found_rkeys = {r for r, _, _ in found}
                for key in chunk:
                    rkey = claim.rkeys[key]
                    if rkey in values:
                        found_into[key] = values[rkey]
                    elif rkey in found_rkeys:
                        load_here.append(key)  # bytes that are not ours: load it, unlocked
        return load_here, held_elsewhere
