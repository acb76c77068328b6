"""The warehouse's errors: raised by the pool, the backends, the catalogue and `Warehouse`."""

from __future__ import annotations

from stores.errors import SophiaError


class WarehouseError(SophiaError):
    """Base class for warehouse failures."""


class WarehouseUnavailableError(WarehouseError):
    """The warehouse could not be reached or refused the connection."""


class QueryError(WarehouseError):
    """The warehouse rejected a statement (syntax, types, missing objects)."""


class QueryTimeoutError(QueryError, TimeoutError):
    """A warehouse statement did not finish within the query timeout."""


class UnknownIdentifierError(WarehouseError, ValueError):
    """A table or column name is not in the warehouse's catalogue."""


class PoolTimeoutError(WarehouseError, TimeoutError):
    """No pooled connection became free within the acquire timeout."""


class PoolClosedError(WarehouseError):
    """The pool was used after it was closed."""
