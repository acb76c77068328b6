"""The engine's exception hierarchy: every error we raise derives from `SophiaError`.

Callers can catch `SophiaError` for anything the engine raises on purpose; the
subclasses name the problem so that an error message alone says what went wrong.
The original exception, when there is one, is kept as ``__cause__``.
"""

from __future__ import annotations

# The root lives in telemetry (the bottom package, which imports nothing of ours);
# this module stays its public home.
from telemetry.errors import SophiaError as SophiaError


class ConfigurationError(SophiaError):
    """A setting or URL is missing or malformed."""


class WarehouseError(SophiaError):
    """Base class for warehouse failures."""


class WarehouseUnavailableError(WarehouseError):
    """The warehouse could not be reached or refused the connection."""


class QueryError(WarehouseError):
    """The warehouse rejected a statement (syntax, types, missing objects)."""


class UnknownIdentifierError(WarehouseError, ValueError):
    """A table or column name is not in the warehouse's catalogue."""


class PoolTimeoutError(WarehouseError, TimeoutError):
    """No pooled connection became free within the acquire timeout."""


class PoolClosedError(WarehouseError):
    """The pool was used after it was closed."""


class CacheError(SophiaError):
    """Base class for cache failures that are surfaced to callers."""


class CacheSerializationError(CacheError):
    """A value could not be encoded, or bytes in the cache are not in our format."""


class MemoryStoreError(SophiaError):
    """The memory store could not complete an operation (index, persistence)."""


class CircuitOpenError(SophiaError):
    """A circuit breaker is open: the dependency is failing and calls fail fast."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(
            f"circuit breaker {name!r} is open; next trial call in {retry_after_s:.1f}s"
        )
        self.name = name
        self.retry_after_s = retry_after_s





class DependencyTimeoutError(SophiaError, TimeoutError):
    """A guarded call to a dependency did not finish within its per-attempt timeout."""

    def __init__(self, name: str, timeout_s: float) -> None:
        super().__init__(f"call to {name!r} timed out after {timeout_s:g}s")
        self.name = name
        self.timeout_s = timeout_s


class QueryTimeoutError(QueryError, TimeoutError):
    """A warehouse statement did not finish within the query timeout."""


class UnknownNamespaceError(CacheError, LookupError):
    """A cache namespace was used that is neither a default nor registered."""

    def __init__(self, namespace: str, known: list[str]) -> None:
        super().__init__(
            f"unknown cache namespace {namespace!r}; known namespaces: {', '.join(known)} "
            "(add one with TieredCache(ttls={...}) or cache.register_namespace(name, ttl))"
        )
        self.namespace = namespace
        self.known = known
