"""The root of the engine's exception hierarchy: every error we raise derives from `SophiaError`.

Callers can catch `SophiaError` for anything the engine raises on purpose; the
subclasses name the problem so that an error message alone says what went wrong.
The original exception, when there is one, is kept as ``__cause__``.

Each error lives beside what raises it: the warehouse's in `stores.warehouse.errors`,
the cache's in `stores.cache.errors`, the memory store's in `stores.memory.errors`, the
breakers' and guards' in `stores.resilience.errors`. They stay importable from here
(loaded on first use, so importing this module stays cheap) for existing callers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stores.lazy import lazy_exports

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


class SophiaError(Exception):
    """Root of every error the engine raises deliberately."""


class ConfigurationError(SophiaError):
    """A setting or URL is missing or malformed."""


class GraphError(SophiaError):
    """Base class for errors about graphs and their inputs."""


class UnknownGraphError(GraphError, LookupError):
    """No graph is registered under the requested name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown graph {name!r}; registered graphs: {', '.join(known) or 'none'}")
        self.name = name
        self.known = known


class InvalidInputError(GraphError, ValueError):
    """The input does not match the graph's input schema."""

    def __init__(self, graph: str, problems: list[str]) -> None:
        super().__init__(f"invalid input for graph {graph!r}: " + "; ".join(problems))
        self.graph = graph
        self.problems = problems





class CheckpointStoreError(SophiaError):
    """The checkpoint store (SQLite or Postgres) failed, so a threaded run cannot proceed."""


class CheckpointStoreUnavailableError(CheckpointStoreError):
    """The checkpoint store cannot be reached; runs without a thread still work."""


class ThreadError(GraphError):
    """Base class for errors about threads (durable conversations) and their runs."""


class UnknownThreadError(ThreadError, LookupError):
    """No thread exists under the requested id."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"unknown thread {thread_id!r}")
        self.thread_id = thread_id


class ThreadBusyError(ThreadError):
    """A run is already in progress on the thread (multitask strategy 'reject')."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"thread {thread_id!r} is busy with run {run_id!r}")
        self.thread_id = thread_id
        self.run_id = run_id


class NothingToResumeError(ThreadError):
    """A resume was asked for a thread that is neither interrupted nor unfinished."""


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
    "CheckpointStoreError",
    "CheckpointStoreUnavailableError",
    "CircuitOpenError",
    "ConfigurationError",
    "DependencyTimeoutError",
    "GraphError",
    "InvalidInputError",
    "MemoryStoreError",
    "NothingToResumeError",
    "PoolClosedError",
    "PoolTimeoutError",
    "QueryError",
    "QueryTimeoutError",
    "RedisUnavailable",
    "SophiaError",
    "ThreadBusyError",
    "ThreadError",
    "UnknownGraphError",
    "UnknownIdentifierError",
    "UnknownNamespaceError",
    "UnknownThreadError",
    "WarehouseError",
    "WarehouseUnavailableError",
]
