"""Backend errors as ours: the backend as the pool's `Connector`, and calls that translate.

Everything a backend raises on the pool's threads leaves as one of our errors, the
original kept as ``__cause__``: a dropped connection as `WarehouseUnavailableError` (the
pool discards that connection), anything else the backend raised as `QueryError`.
"""

from __future__ import annotations

from typing import Any

from stores.errors import SophiaError
from stores.warehouse.backends import Backend
from stores.warehouse.errors import QueryError, WarehouseError, WarehouseUnavailableError


class TranslatingConnector:
    """The backend as the pool's connector, raising our error hierarchy from its threads."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name

    def connect(self) -> Any:
        """A new backend connection; `WarehouseUnavailableError` if it cannot be made."""
        try:
            return self.backend.connect()
        except SophiaError:
            raise
        except Exception as exc:
            raise WarehouseUnavailableError(
                f"cannot connect to the {self.name} warehouse: {type(exc).__name__}: {exc}"
            ) from exc

    def close(self, conn: Any) -> None:
        """Close one connection."""
        self.backend.close(conn)

    def ping(self, conn: Any) -> None:
        """Raise if the connection cannot run statements any more."""
        self.backend.ping(conn)

    def reset(self, conn: Any) -> None:
        """Local clean-up before the connection is reused."""
        self.backend.reset(conn)

    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` (ours or the backend's) means the connection is unusable."""
        return isinstance(exc, WarehouseUnavailableError) or self.backend.is_disconnect(exc)


def translate(backend: Backend, exc: Exception) -> WarehouseError:
    """``exc`` as one of our errors (itself if it already is one)."""
    if isinstance(exc, WarehouseError):
        return exc
    if backend.is_disconnect(exc):
        return WarehouseUnavailableError(
            f"the {backend.name} connection failed: {type(exc).__name__}: {exc}"
        )
    return QueryError(f"{backend.name} rejected the statement: {type(exc).__name__}: {exc}")


def call_translated(conn: Any, backend: Backend, fn: Any, *args: Any) -> Any:
    """Run ``fn(conn, *args)`` (on a pool thread), raising our hierarchy (cause chained)."""
    try:
        return fn(conn, *args)
    except Exception as exc:
        translated = translate(backend, exc)
        if translated is exc:
            raise
        raise translated from exc
