"""The root of the engine's exception hierarchy: every error we raise derives from `SophiaError`.

Callers can catch `SophiaError` for anything the engine raises on purpose; the
subclasses name the problem so that an error message alone says what went wrong.
The original exception, when there is one, is kept as ``__cause__``.

Each error lives beside what raises it: the warehouse's in `stores.warehouse.errors`,
the cache's in `stores.cache.errors`, the memory store's in `stores.memory.errors`, the
breakers' and guards' in `stores.resilience.errors` (graph, thread and checkpoint-store
errors live in `graphs.engine.errors` and `graphs.durable.errors`). They stay importable from here
(loaded on first use, so importing this module stays cheap) for existing callers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from stores.cache.errors import (
        CacheError,
        CacheSerializationError,
        RedisUnavailable,
        UnknownNamespaceError,
    )
    from stores.memory.errors import MemoryStoreError
    from stores.resilience.errors import CircuitOpenError, DependencyTimeoutError
    from stores.warehouse.errors import (
        PoolClosedError,
        PoolTimeoutError,
        QueryError,
        QueryTimeoutError,
        UnknownIdentifierError,
        WarehouseError,
        WarehouseUnavailableError,
    )


# The root lives in telemetry (the bottom package, which imports nothing of ours);
# this module stays its public home.
from telemetry.errors import SophiaError as SophiaError


class ConfigurationError(SophiaError):
    """A setting or URL is missing or malformed."""


_MOVED = {
    **dict.fromkeys(
        (
            "WarehouseError",
            "WarehouseUnavailableError",
            "QueryError",
            "QueryTimeoutError",
            "UnknownIdentifierError",
            "PoolTimeoutError",
            "PoolClosedError",
        ),
        "stores.warehouse.errors",
    ),
    **dict.fromkeys(
        ("CacheError", "CacheSerializationError", "UnknownNamespaceError", "RedisUnavailable"),
        "stores.cache.errors",
    ),
    "MemoryStoreError": "stores.memory.errors",
    "CircuitOpenError": "stores.resilience.errors",
    "DependencyTimeoutError": "stores.resilience.errors",
}
"""Errors that moved beside what raises them: name -> their module."""


__getattr__ = lazy_exports(__name__, _MOVED)


__all__ = [
    "CacheError",
    "CacheSerializationError",
    "CircuitOpenError",
    "ConfigurationError",
    "DependencyTimeoutError",
    "MemoryStoreError",
    "PoolClosedError",
    "PoolTimeoutError",
    "QueryError",
    "QueryTimeoutError",
    "RedisUnavailable",
    "SophiaError",
    "UnknownIdentifierError",
    "UnknownNamespaceError",
    "WarehouseError",
    "WarehouseUnavailableError",
]
