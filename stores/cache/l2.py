"""`RedisTier`: the cache's L2 on aiocache's `RedisCache`, degrading instead of failing.

aiocache's `RedisCache` runs on redis-py's asyncio client with a bounded, blocking
connection pool and short socket timeouts (a slow Redis costs at most ``timeout_s`` per
call). Values arrive already encoded (`stores.cache.serialization`), so aiocache's own
serializer is bypassed on writes (``dumps_fn``) and reads return raw bytes.

* Batched reads are one round trip: a small Lua script (EVALSHA; redis-py reloads it
  after a server restart) returns each key's value and PTTL, so promotions to L1 know the
  remaining TTL. (Measured ~1.5x faster than a MULTI/EXEC pipeline of MGET + PTTLs.)
* Batched writes are aiocache's pipelined MSET + PEXPIRE: one round trip per batch.

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
import secrets
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
# Delete the lock only while it still holds this caller's token (another caller's lock,
# taken after ours expired, must survive).
_UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _identity(value: Any) -> Any:
    return value


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
        self._unlock: Any = None

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
        self._unlock = self._backend.client.register_script(_UNLOCK_LUA)
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

    async def try_lock(self, key: str, ttl_s: float) -> str | None:
        """SET NX PX: a token if this caller now holds `key` for `ttl_s`, else None."""
        token = secrets.token_hex(8)
        try:
            won = await self._call(self._backend.client.set, key, token, nx=True,
                                   px=max(1, int(ttl_s * 1000)))  # fmt: skip
        except RedisUnavailable:
            return None
        return token if won else None

    async def unlock(self, key: str, token: str) -> None:
        """Release `key` if this token still holds it (the lock also expires by itself)."""
        try:
            await self._call(self._unlock, keys=[key], args=[token])
        except RedisUnavailable:
            pass

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
