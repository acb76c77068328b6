"""`Connector`: how a `ConnectionPool` makes, checks, resets and closes one kind of
blocking connection (the warehouse backends are connectors)."""

from __future__ import annotations

from typing import Protocol, TypeVar

C = TypeVar("C")


class Connector(Protocol[C]):
    """How the pool makes, checks, resets and closes one kind of blocking connection.

    Every method is blocking and is called on the pool's own threads.
    """

    name: str

    def connect(self) -> C:
        """Open a new connection; raise on failure."""
        ...

    def close(self, conn: C) -> None:
        """Close a connection; must not raise for an already broken one."""
        ...

    def ping(self, conn: C) -> None:
        """Raise if the connection can no longer run statements."""
        ...

    def reset(self, conn: C) -> None:
        """Bring a returned connection back to a clean session state."""
        ...

    def is_disconnect(self, exc: BaseException) -> bool:
        """True if ``exc`` means the connection itself is unusable."""
        ...
