"""One pooled connection: its bookkeeping (`PoolEntry`) and the handle a task holds (`Lease`).

As in asyncpg, where ``PoolConnectionHolder`` keeps one connection's state and the pool
only counts and queues holders: a `PoolEntry` is owned by its pool for the connection's
whole life; a `Lease` is the short-lived, single-task view of it between checkout and
release.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from stores.warehouse.errors import WarehouseUnavailableError

C = TypeVar("C")
T = TypeVar("T")


@dataclass(eq=False)
class PoolEntry(Generic[C]):
    """A connection as its pool keeps it: age, last use, the call running on it, state."""

    conn: C
    created: float
    last_used: float
    inflight: concurrent.futures.Future[Any] | None = None
    broken: bool = False
    discarded: bool = False
    lease_started: float = field(default=0.0)
    waited_s: float = 0.0


class LeaseOwner(Protocol[C]):
    """What a `Lease` needs from the pool that handed it out."""

    name: str

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args)`` on the pool's threads."""
        ...

    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection is unusable."""
        ...

    def give_back(self, entry: PoolEntry[C]) -> None:
        """Take a released entry back (reuse it, or close it if broken)."""
        ...


class Lease(Generic[C]):
    """One checked-out connection, usable by the task that acquired it until release."""

    def __init__(self, owner: LeaseOwner[C], entry: PoolEntry[C]) -> None:
        self._owner = owner
        self._entry = entry
        self._released = False

    @property
    def waited_s(self) -> float:
        """How long the checkout of this connection waited (including a connect)."""
        return self._entry.waited_s

    @property
    def broken(self) -> bool:
        """Whether the connection was marked unusable (it is discarded on release)."""
        return self._entry.broken

    def release(self) -> None:
        """Give the connection back (closed instead if broken); later calls do nothing."""
        if not self._released:
            self._released = True
            self._owner.give_back(self._entry)

    @property
    def connection(self) -> C:
        """The raw blocking connection (use it only inside functions passed to `run`)."""
        return self._entry.conn

    def discard(self) -> None:
        """Mark the connection unusable: the pool closes it on release instead of reusing it."""
        self._entry.broken = True

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on the pool's threads (not guarded on its own:
        guard the whole attempt with `ConnectionPool.using`).

        If the caller is cancelled or ``fn`` raises a disconnect error, the connection is
        marked broken and will be discarded on release; a broken connection refuses
        further calls with `WarehouseUnavailableError`.
        """
        entry = self._entry
        if entry.broken or self._released:
            raise WarehouseUnavailableError(
                f"pool {self._owner.name!r}: this connection was discarded after a failure"
                if entry.broken
                else f"pool {self._owner.name!r}: this lease was already released"
            )
        cf = self._owner.submit(fn, entry.conn, *args)
        entry.inflight = cf
        try:
            return await asyncio.wrap_future(cf)
        except asyncio.CancelledError:
            entry.broken = True  # the thread may still be running the statement
            raise
        except BaseException as exc:
            if self._owner.is_disconnect(exc):
                entry.broken = True
            raise
