"""A backend-agnostic async pool of blocking database connections.

The pool promises:

- at most ``max_size`` connections exist at any time (open, opening or being closed),
  except that a login abandoned at its timeout is closed only when its thread returns;
- a connection is used by one task at a time (``acquire()`` hands out a `Lease`);
- idle connections are reused last-in first-out, so the warm ones stay warm;
- ``acquire()`` waits at most ``acquire_timeout_s`` and then raises `PoolTimeoutError`
  naming the pool's size, how many are in use and how many tasks wait;
- connections older than ``max_lifetime_s`` or idle longer than ``max_idle_s`` are closed
  instead of reused (a reaper task also closes such idle ones in the background); one
  idle longer than ``health_check_after_s`` is pinged first and replaced if the ping fails;
- a connection whose call was cancelled or timed out mid-flight, or that raised an error
  the connector classifies as a disconnect, is discarded (closed once its thread is done),
  never handed out again;
- blocking calls run on a thread pool of ``max_size`` workers that the pool owns;
- ``close()`` waits for leased connections up to a timeout, then closes them anyway.

The pool counts connections and queues the tasks waiting for one; as asyncpg keeps one
connection's state in a holder, a connection's own state and handle are in
`stores.warehouse.lease`, and its opening and closing on the threads in
`stores.warehouse.connections`.

Resilience: with a ``guard``, `ConnectionPool.using` and `ConnectionPool.checkout` run
*acquire + the work on the connection* as one guarded attempt. A retry therefore never
reuses the connection of a failed or timed-out attempt (that one is released as broken
and discarded); it checks out another, and the breaker counts every attempt. An open
breaker fails the call before any connection is acquired, and its `CircuitOpenError`
reaches the caller as itself. `Lease.run` and the connects and pings made while acquiring
are not guarded on their own: they are part of the attempt that needed them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Generic, TypeVar

from stores.resilience.call_guard import CallGuard
from stores.warehouse.connections import Connections
from stores.warehouse.connector import Connector
from stores.warehouse.errors import PoolClosedError, PoolTimeoutError
from stores.warehouse.lease import Lease, PoolEntry
from stores.warehouse.pool_metrics import PoolMetrics

C = TypeVar("C")
T = TypeVar("T")


class ConnectionPool(Generic[C]):
    """An async pool of blocking connections made by a `Connector` (see module docstring)."""

    def __init__(
        self,
        connector: Connector[C],
        *,
        min_size: int = 1,
        max_size: int = 8,
        acquire_timeout_s: float = 10.0,
        max_lifetime_s: float = 3600.0,
        max_idle_s: float = 300.0,
        health_check_after_s: float = 5.0,
        close_timeout_s: float = 10.0,
        guard: CallGuard | None = None,
        name: str | None = None,
        system: str = "unknown",
    ) -> None:
        if max_size < 1 or not 0 <= min_size <= max_size:
            raise ValueError(
                f"need 0 <= min_size <= max_size and max_size >= 1, got {min_size}, {max_size}"
            )
        self.connector = connector
        self.name = name or connector.name
        self.min_size = min_size
        self.max_size = max_size
        self.acquire_timeout_s = acquire_timeout_s
        self.max_lifetime_s = max_lifetime_s
        self.max_idle_s = max_idle_s
        self.health_check_after_s = health_check_after_s
        self.close_timeout_s = close_timeout_s
        self._guard = guard
        self._idle: list[PoolEntry[C]] = []  # LIFO: append and pop at the end
        self._leased: set[PoolEntry[C]] = set()
        self._size = 0  # connections open, opening or closing
        self._waiters: deque[asyncio.Future[PoolEntry[C] | None]] = deque()
        self._closed = False
        self._opened = False
        self._background: set[asyncio.Task[None]] = set()
        self._all_returned: asyncio.Event | None = None
        self._reaper: asyncio.Task[None] | None = None
        self.metrics = PoolMetrics(self.name, system)
        self.connections: Connections[C] = Connections(connector, self.name, max_size, self.metrics)

    # lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the threads and open ``min_size`` connections in parallel.

        Raises `WarehouseUnavailableError` (cause attached) if the warm-up cannot connect.
        """
        if self._opened:
            return
        self.connections.start()
        self._opened = True
        PoolMetrics.report(self)
        results = await asyncio.gather(
            *(self._new_entry() for _ in range(self.min_size)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        for r in results:
            if isinstance(r, PoolEntry):
                self._idle.append(r)
        if errors:
            await self.close()
            raise errors[0]
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        """Close idle connections past their idle or total lifetime, without waiting for demand."""
        period = min(max(min(self.max_idle_s, self.max_lifetime_s) / 2, 0.05), 30.0)
        while not self._closed:
            await asyncio.sleep(period)
            self.reap()

    def reap(self) -> int:
        """Close idle connections that outlived ``max_idle_s`` or ``max_lifetime_s`` now.

        Returns how many were closed. The reaper task calls this periodically.
        """
        now = time.monotonic()
        expired = [
            e
            for e in self._idle
            if now - e.last_used > self.max_idle_s or now - e.created > self.max_lifetime_s
        ]
        if expired:
            self._idle = [e for e in self._idle if e not in expired]
            for entry in expired:
                self._discard(entry)
        return len(expired)

    async def close(self, timeout_s: float | None = None) -> None:
        """Refuse new acquires, wait for leased connections (up to a timeout), close all."""
        if self._closed:
            return
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(PoolClosedError(f"pool {self.name!r} was closed"))
        self._waiters.clear()
        deadline = time.monotonic() + (self.close_timeout_s if timeout_s is None else timeout_s)
        if self._leased:
            self._all_returned = asyncio.Event()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self._all_returned.wait()
            except TimeoutError:
                pass  # force-close what is still leased
        idle, self._idle = self._idle, []
        leased = list(self._leased)
        for entry in [*idle, *leased]:
            self._discard(entry, force=True)
        if self._background:
            grace = max(0.0, deadline - time.monotonic()) + 1.0
            await asyncio.wait(set(self._background), timeout=grace)
        self.connections.stop()
        PoolMetrics.forget(self)

    async def __aenter__(self) -> ConnectionPool[C]:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # acquire / release -----------------------------------------------------------------

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Lease[C]]:
        """Check out a connection for the duration of the ``async with`` block (unguarded)."""
        lease = Lease(self, await self._checkout())
        try:
            yield lease
        finally:
            lease.release()

    async def using(self, work: Callable[[Lease[C]], Awaitable[T]]) -> T:
        """Check out a connection, await ``work(lease)``, give the connection back.

        With a guard, acquire + work is one guarded attempt: a retry checks out another
        connection (a failed or timed-out one is discarded, never reused), the breaker
        counts each attempt, and an open breaker raises `CircuitOpenError` before any
        connection is touched.
        """
        lease, result = await self.checkout(work)
        lease.release()
        return result

    async def checkout(self, first: Callable[[Lease[C]], Awaitable[T]]) -> tuple[Lease[C], T]:
        """Like `using`, but keep the connection: returns ``(lease, await first(lease))``.

        For work that goes on after its guarded start (a streamed result): the caller
        must call ``lease.release()`` when done. If ``first`` fails, the connection is
        released (discarded if broken) before the error propagates or a retry starts.
        """
        if self._guard is None:
            return await self._attempt(first)
        got: tuple[Lease[C], T] = await self._guard.run(self._attempt, first)
        return got

    async def _attempt(self, first: Callable[[Lease[C]], Awaitable[T]]) -> tuple[Lease[C], T]:
        lease = Lease(self, await self._checkout())
        try:
            return lease, await first(lease)
        except BaseException:
            lease.release()
            raise

    async def _checkout(self) -> PoolEntry[C]:
        started = time.monotonic()
        deadline = started + self.acquire_timeout_s
        while True:
            if self._closed or not self._opened:
                state = "closed" if self._closed else "not open"
                raise PoolClosedError(f"pool {self.name!r} is {state}")
            entry: PoolEntry[C] | None = None
            fresh = False  # made for this checkout: no lifetime or health check needed
            if self._idle:
                entry = self._idle.pop()
            elif self._size < self.max_size:
                self._size += 1
                try:
                    entry = await self.connections.open(deadline - time.monotonic())
                    fresh = True
                except BaseException:
                    self._size -= 1
                    self._wake_one(None)
                    raise
            else:
                entry = await self._wait(deadline)
            if entry is None:
                continue  # a slot freed up: try again
            self._leased.add(entry)  # counts as in use while it is checked
            if fresh or await self._usable(entry):
                waited = time.monotonic() - started
                self.metrics.record_wait(waited)
                entry.waited_s = waited
                entry.lease_started = time.monotonic()
                return entry
            self._leased.discard(entry)
            self._discard(entry)

    async def _wait(self, deadline: float) -> PoolEntry[C] | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout_error()
        fut: asyncio.Future[PoolEntry[C] | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            async with asyncio.timeout(remaining):
                return await fut
        except TimeoutError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                return fut.result()
            raise self._timeout_error() from None
        except asyncio.CancelledError:
            # handed an entry just as we were cancelled: give it back
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                got = fut.result()
                if got is not None:
                    self._put_back(got)
                else:
                    self._wake_one(None)
            raise
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    def _timeout_error(self) -> PoolTimeoutError:
        self.metrics.timeouts.add(1, self.metrics.attrs)
        return PoolTimeoutError(
            f"pool {self.name!r}: no connection free after {self.acquire_timeout_s:.2f}s "
            f"(size={self._size}, max_size={self.max_size}, in_use={len(self._leased)}, "
            f"idle={len(self._idle)}, waiting={len(self._waiters)})"
        )

    async def _usable(self, entry: PoolEntry[C]) -> bool:
        now = time.monotonic()
        if now - entry.created > self.max_lifetime_s or now - entry.last_used > self.max_idle_s:
            return False
        if now - entry.last_used >= self.health_check_after_s:
            try:
                await self.connections.call(self.connector.ping, entry.conn)
            except asyncio.CancelledError:
                self._leased.discard(entry)
                self._discard(entry)
                raise
            except Exception:
                self.metrics.health_failures += 1
                return False
        return True

    def give_back(self, entry: PoolEntry[C]) -> None:
        """Take back an entry a `Lease` released: reuse it, or close it if broken or old."""
        self._leased.discard(entry)
        if self._all_returned is not None and not self._leased:
            self._all_returned.set()
        if entry.discarded:  # force-closed by close() while leased
            return
        entry.last_used = time.monotonic()
        expired = entry.last_used - entry.created > self.max_lifetime_s
        if entry.broken or expired or self._closed:
            self._discard(entry)
        else:
            self._put_back(entry)

    def _put_back(self, entry: PoolEntry[C]) -> None:
        if self._closed:
            self._discard(entry)
            return
        try:
            self.connector.reset(entry.conn)  # must be local: no round trip
        except Exception:
            self._discard(entry)
            return
        if not self._wake_one(entry):
            self._idle.append(entry)

    def _wake_one(self, value: PoolEntry[C] | None) -> bool:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(value)
                return True
        return False

    # connections and leases ---------------------------------------------------------------

    async def _new_entry(self) -> PoolEntry[C]:
        self._size += 1
        try:
            return await self.connections.open(self.acquire_timeout_s)
        except BaseException:
            self._size -= 1
            raise

    def _discard(self, entry: PoolEntry[C], force: bool = False) -> None:
        """Close a connection in the background; its slot frees when the close is done."""
        if entry.discarded:
            return
        entry.discarded = True
        self.metrics.discarded += 1
        task = asyncio.get_running_loop().create_task(self._close_entry(entry, force))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_entry(self, entry: PoolEntry[C], force: bool) -> None:
        try:
            await self.connections.close(entry, wait_s=None if force else self.close_timeout_s)
        finally:
            self._size -= 1
            if not self._closed:
                self._wake_one(None)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args)`` on the pool's threads (`Lease.run` uses it)."""
        return self.connections.submit(fn, *args)

    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` means a connection is unusable (per the connector)."""
        return self.connector.is_disconnect(exc)

    def gauge_counts(self) -> tuple[int, int, int]:
        """(in use, idle, waiting) now: what the ``db.client.connection.*`` gauges report."""
        return len(self._leased), len(self._idle), len(self._waiters)

    def stats(self) -> dict[str, Any]:
        """A snapshot: size, in_use, idle, waiting, acquire wait (count/total/max), counters."""
        return {
            "size": self._size,
            "max_size": self.max_size,
            "min_size": self.min_size,
            "in_use": len(self._leased),
            "idle": len(self._idle),
            "waiting": len(self._waiters),
            **self.metrics.snapshot(),
            "closed": self._closed,
        }

