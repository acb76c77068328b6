"""The cache's errors. Only programming errors reach the cache's callers; a Redis outage
never does (`RedisUnavailable` stays inside the cache, which degrades to L1 + loader)."""

from __future__ import annotations

from stores.errors import SophiaError


class CacheError(SophiaError):
    """Base class for cache failures."""


class CacheSerializationError(CacheError):
    """A value could not be encoded, or bytes in the cache are not in our format."""


class UnknownNamespaceError(CacheError, LookupError):
    """A cache namespace was used that is neither a default nor registered."""

    def __init__(self, namespace: str, known: list[str]) -> None:
        super().__init__(
            f"unknown cache namespace {namespace!r}; known namespaces: {', '.join(known)} "
            "(add one with TieredCache(ttls={...}) or cache.register_namespace(name, ttl))"
        )
        self.namespace = namespace
        self.known = known


class RedisUnavailable(CacheError):
    """An L2 call was skipped (back-off, open breaker) or failed; the cache degrades to
    L1 + loader. Raised only between the L2 and `TieredCache`, never to its callers."""
