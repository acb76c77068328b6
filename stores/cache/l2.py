"""`RedisTier`: the cache's L2 on aiocache's `RedisCache`, degrading instead of failing.

aiocache's `RedisCache` runs on redis-py's asyncio client with a bounded, blocking
connection pool and short socket timeouts (a slow Redis costs at most ``timeout_s`` per
call). Values arrive already encoded (`stores.cache.serialization`), so aiocache's own
serializer is bypassed on writes (``dumps_fn``) and reads return raw bytes.

* Batched reads are one round trip: a small Lua script (EVALSHA; redis-py reloads it
  after a server restart) returns each key's value and PTTL, so promotions to L1 know the
  remaining TTL. (Measured ~1.5x faster than a MULTI/EXEC pipeline of MGET + PTTLs.)
* Batched writes are aiocache's pipelined MSET + PEXPIRE: one round trip per batch.
* Load locks (`stores.cache.load_locks`) are scripts too: claiming a batch (read the value
  or SET NX PX the lock) and writing values then releasing their locks are one round trip
  each; a release only deletes a lock that still holds the caller's token.

Every call goes through the optional `CallGuard` and the `RedisHealth` state machine.
With a guard, its circuit breaker alone decides when Redis is tried: every call goes to
the guard, which fails fast (`CircuitOpenError`, no I/O) while the breaker is open and
lets trial calls through once its wait is over. Without a guard, a refused connection
or a timeout marks Redis down for our own back-off, and calls during it are skipped.
Any failure surfaces as `RedisUnavailable`, which the cache turns into a miss or a
dropped write. Nothing here raises to the cache's callers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from aiocache import RedisCache
from aiocache.serializers import BaseSerializer
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stores.cache.errors import RedisUnavailable
from stores.cache.serialization import dumps, loads
from stores.cache.stats import RedisHealth
from stores.errors import ConfigurationError
from stores.resilience.errors import CircuitOpenError
from stores.urls import redact_url

if TYPE_CHECKING:
    from stores.resilience.call_guard import CallGuard

log = logging.getLogger(__name__)

_OUTAGE_ERRORS = (
    RedisConnectionError, RedisTimeoutError, OSError, TimeoutError, CircuitOpenError,
)  # fmt: skip
_GET_WITH_PTTL_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('GET', key)
  out[2 * i] = redis.call('PTTL', key)
end
return out
"""
# Load locks (`stores.cache.load_locks`). KEYS: value key, lock key, value key, lock key...;
# ARGV[1]: the claim's token, ARGV[2]: the lock TTL in ms. Three slots per key: 2, value,
# PTTL (cached meanwhile: nothing to load) | 1, false, 0 (lock won: load it) | 0, false, the
# lock's PTTL (another caller is loading it). Reading the value in the same script closes
# the gap between a miss and the claim: a holder that stored and released in between is
# seen as a value, never as a free lock.
_CLAIM_LUA = """
local out = {}
for i = 1, #KEYS, 2 do
  local n = #out
  local value = redis.call('GET', KEYS[i])
  if value then
    out[n + 1] = 2; out[n + 2] = value; out[n + 3] = redis.call('PTTL', KEYS[i])
  elseif redis.call('SET', KEYS[i + 1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[n + 1] = 1; out[n + 2] = false; out[n + 3] = 0
  else
    out[n + 1] = 0; out[n + 2] = false; out[n + 3] = redis.call('PTTL', KEYS[i + 1])
  end
end
return out
"""
# Delete each lock only while it still holds this caller's token (another caller's lock,
# taken after ours expired, must survive). KEYS: lock keys; ARGV[1]: the token.
_UNLOCK_LUA = """
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    released = released + redis.call('DEL', key)
  end
end
return released
"""
# Write values, then release locks, in one round trip. KEYS: the value keys, then the lock
# keys; ARGV[1]: TTL in ms, ARGV[2]: the token, ARGV[3..]: one value per value key.
_SET_UNLOCK_LUA = """
local n = #ARGV - 2
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[i + 2], 'PX', ARGV[1])
end
for i = n + 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2] then
    redis.call('DEL', KEYS[i])
  end
end
return n
"""


def _identity(value: Any) -> Any:
    return value


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class SafeSerializer(BaseSerializer):
    """aiocache serializer over `dumps`/`loads`: bytes in, bytes out, no pickle.

    `loads(None)` is None (aiocache's miss); foreign bytes raise CacheSerializationError.
    """

    DEFAULT_ENCODING = None

    def dumps(self, value: Any) -> bytes:
        """Encode `value` with `stores.cache.serialization.dumps`."""
        return dumps(value)

    def loads(self, value: bytes | None) -> Any:
        """Decode with `stores.cache.serialization.loads`; None stays None."""
        return None if value is None else loads(value)


class RedisTier:
    """The L2: aiocache `RedisCache` + guard + health; every method raises only
    `RedisUnavailable` (or `ConfigurationError` from `open` for a malformed URL)."""

    def __init__(
        self, url: str, health: RedisHealth, *, pool_size: int = 16, timeout_s: float = 0.25,
        guard: CallGuard | None = None,
    ) -> None:  # fmt: skip
        self.url = url
        self.health = health
        self.guard = guard
        self._pool_size = pool_size
        self._timeout_s = timeout_s
        self._backend: Any = None  # aiocache RedisCache (untyped)
        self._script: Any = None
        self._claim: Any = None
        self._unlock: Any = None
        self._set_unlock: Any = None

    async def open(self) -> None:
        """Build the client and pool, then ping once (a failure only marks Redis down)."""
        parsed = urlparse(self.url)
        if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
            raise ConfigurationError(f"not a redis:// URL: {redact_url(self.url)!r}")
        path = parsed.path.strip("/")
        try:
            db = int(path or 0)
        except ValueError as exc:
            raise ConfigurationError(f"bad Redis database number in URL: {path!r}") from exc
        pool_kwargs: dict[str, Any] = {
            "socket_timeout": self._timeout_s,
            "timeout": max(1.0, 4 * self._timeout_s),  # wait for a free pooled connection
        }
        if parsed.username:
            pool_kwargs["username"] = unquote(parsed.username)
        self._backend = RedisCache(
            serializer=SafeSerializer(),
            endpoint=parsed.hostname,
            port=parsed.port or 6379,
            db=db,
            password=unquote(parsed.password) if parsed.password else None,
            pool_max_size=self._pool_size,
            create_connection_timeout=self._timeout_s,
            ssl=parsed.scheme == "rediss",
            connection_pool_class=BlockingConnectionPool,
            connection_pool_kwargs=pool_kwargs,
            timeout=None,  # socket timeouts bound each call; the guard may add its own
        )
        self._script = self._backend.client.register_script(_GET_WITH_PTTL_LUA)
        self._claim = self._backend.client.register_script(_CLAIM_LUA)
        self._unlock = self._backend.client.register_script(_UNLOCK_LUA)
        self._set_unlock = self._backend.client.register_script(_SET_UNLOCK_LUA)
        try:
            await self._call(self._backend.raw, "ping")
        except RedisUnavailable:
            log.warning("Redis at %s is unreachable; serving L1 only for now", redact_url(self.url))

    async def close(self) -> None:
        """Close the client and its pool."""
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                # aiocache's close() calls redis-py's deprecated close(); aclose() also
                # disconnects the pool (aiocache sets auto_close_connection_pool).
                await backend.client.aclose()
            except Exception:  # closing a dead connection pool is not worth failing for
                log.debug("closing the Redis client failed", exc_info=True)

    async def get_with_ttl(self, rkeys: Sequence[str]) -> tuple[list[Any], list[int]]:
        """(raw values or None, PTTLs in ms: -1 none, -2 absent) in one round trip."""
        flat = await self._call(self._script, keys=list(rkeys))
        return list(flat[0::2]), [int(p) for p in flat[1::2]]

    async def set_many(self, pairs: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        """Write encoded values with a TTL: SET PX for one, pipelined MSET + PEXPIRE for more."""
        if len(pairs) == 1:
            (rkey, data), = pairs  # fmt: skip
            await self._call(self._backend.set, rkey, data, ttl=float(ttl_s), dumps_fn=_identity)
        else:
            await self._call(self._backend.multi_set, list(pairs), ttl=float(ttl_s),
                             dumps_fn=_identity)  # fmt: skip

    async def delete(self, rkey: str) -> None:
        """Delete one key."""
        await self._call(self._backend.delete, rkey)

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key starting with `prefix` (SCAN + UNLINK in batches of 500)."""
        await self._call(self._scan_unlink, _glob_escape(prefix) + "*")

    async def _scan_unlink(self, pattern: str) -> None:
        client = self._backend.client
        batch: list[bytes] = []
        async for rkey in client.scan_iter(match=pattern, count=500):
            batch.append(rkey)
            if len(batch) >= 500:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)

    async def claim(
        self, pairs: Sequence[tuple[str, str]], token: str, ttl_s: float
    ) -> list[tuple[int, Any, int]]:
        """For each (value key, lock key), in one round trip: ``(2, raw value, PTTL)`` if the
        value is there, ``(1, None, 0)`` if this caller now holds the lock for `ttl_s`
        (SET NX PX with `token`), ``(0, None, lock PTTL)`` if another caller holds it."""
        keys = [k for pair in pairs for k in pair]
        flat = await self._call(self._claim, keys=keys, args=[token, _ms(ttl_s)])
        return [(int(flat[i]), flat[i + 1], int(flat[i + 2])) for i in range(0, len(flat), 3)]

    async def set_many_and_unlock(
        self, pairs: Sequence[tuple[str, bytes]], ttl_s: float, lock_keys: Sequence[str],
        token: str,
    ) -> None:  # fmt: skip
        """Write encoded values with a TTL, then release `lock_keys` held with `token`: one
        round trip (a script)."""
        keys = [rkey for rkey, _ in pairs] + list(lock_keys)
        args = [_ms(ttl_s), token, *(data for _, data in pairs)]
        await self._call(self._set_unlock, keys=keys, args=args)

    async def unlock(self, lock_keys: Sequence[str], token: str) -> None:
        """Release the locks still held with `token` (the others, and locks that expired, are
        left alone; every lock also expires by itself)."""
        await self._call(self._unlock, keys=list(lock_keys), args=[token])

    async def _call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        if self._backend is None or not self.health.should_try():
            self.health.skipped += 1
            raise RedisUnavailable("Redis is closed or backing off")
        try:
            if self.guard is not None:
                result = await self.guard.run(fn, *args, **kwargs)
            else:
                result = await fn(*args, **kwargs)
        except CircuitOpenError as exc:  # rejected without any I/O: nothing to clean up
            was_up = self.health.up
            self.health.failure(exc)
            if was_up:
                log.warning("Redis circuit is open (%s); serving L1 + loader", exc)
            raise RedisUnavailable(str(exc)) from exc
        except _OUTAGE_ERRORS as exc:
            was_up = self.health.up
            self.health.failure(exc)
            log.log(
                logging.WARNING if was_up else logging.DEBUG,
                "Redis unavailable (%r); serving L1 + loader, next try in %.1fs",
                exc, self.health.retry_in_s(),
            )  # fmt: skip
            await self._drop_idle_connections()
            raise RedisUnavailable(str(exc)) from exc
        except Exception as exc:  # e.g. a ResponseError: not an outage, but never fatal
            self.health.error(exc)
            log.warning("Redis call failed: %r", exc)
            raise RedisUnavailable(str(exc)) from exc
        self.health.success()
        return result

    async def _drop_idle_connections(self) -> None:
        # Pooled sockets to a restarted server are dead; drop the idle ones so the trial
        # call after the back-off connects afresh.
        try:
            await self._backend.client.connection_pool.disconnect(inuse_connections=False)
        except Exception:
            log.debug("dropping pooled Redis connections failed", exc_info=True)
