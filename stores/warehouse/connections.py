"""The blocking side of a `ConnectionPool`: its threads, and one connection's open and close.

`Connections` promises:

- blocking calls run on a thread pool of ``max_workers`` threads that it starts and stops
  (stopping cancels calls not yet started; a call on a stopped pool raises
  `PoolClosedError`);
- `open` bounds a connect by a timeout and names the failure (`WarehouseUnavailableError`,
  cause chained); a login abandoned at its timeout is closed when its thread returns;
- `close` waits (up to a limit) for the call still running on a connection, then closes
  it, on the threads while they run and inline after they stopped; it never raises.

Counting connections and handing them to waiting tasks is the pool's business.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from stores.resilience.errors import CircuitOpenError
from stores.warehouse.connector import Connector
from stores.warehouse.errors import PoolClosedError, WarehouseUnavailableError
from stores.warehouse.lease import PoolEntry
from stores.warehouse.pool_metrics import PoolMetrics

C = TypeVar("C")
T = TypeVar("T")


class Connections(Generic[C]):
    """Opens, runs calls on and closes the connections of one pool (see module docstring)."""

    def __init__(
        self, connector: Connector[C], name: str, max_workers: int, metrics: PoolMetrics
    ) -> None:
        self.connector = connector
        self.name = name
        self._max_workers = max_workers
        self._metrics = metrics
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._stopped = False

    def start(self) -> None:
        """Start the threads."""
        if self._executor is None and not self._stopped:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix=f"pool-{self.name}"
            )

    def stop(self) -> None:
        """Stop the threads without waiting; calls not yet started are cancelled."""
        self._stopped = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args)`` on the threads; `PoolClosedError` if they are not running."""
        if self._executor is None or self._stopped:
            state = "closed" if self._stopped else "not open"
            raise PoolClosedError(f"pool {self.name!r} is {state}")
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError as exc:  # shut down by another thread just now
            raise PoolClosedError(f"pool {self.name!r} was closed") from exc

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Await ``fn(*args)`` run on the threads."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    async def open(self, timeout_s: float) -> PoolEntry[C]:
        """A new connection within ``timeout_s``; `WarehouseUnavailableError` if not.

        An open breaker's `CircuitOpenError` and an already named
        `WarehouseUnavailableError` from the connector pass through as themselves.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(timeout_s, 0.001)):
                conn = await self._connect_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._metrics.connect_failures += 1
            self._metrics.connect_failures_counter.add(1, self._metrics.attrs)
            if isinstance(exc, WarehouseUnavailableError | CircuitOpenError):
                raise  # already named; an open breaker must reach the caller as itself
            if isinstance(exc, TimeoutError):
                message = f"pool {self.name!r}: connecting took longer than {timeout_s:.2f}s"
            else:
                message = f"pool {self.name!r}: cannot connect: {type(exc).__name__}: {exc}"
            raise WarehouseUnavailableError(message) from exc
        now = time.monotonic()
        self._metrics.connects += 1
        self._metrics.create_time.record(now - started, self._metrics.attrs)
        return PoolEntry(conn=conn, created=now, last_used=now)

    async def _connect_once(self) -> C:
        cf = self.submit(self.connector.connect)
        try:
            return await asyncio.wrap_future(cf)
        except asyncio.CancelledError:
            # the login may still succeed on its thread: close that orphan when it does
            cf.add_done_callback(self._close_orphan)
            raise

    def _close_orphan(self, cf: concurrent.futures.Future[C]) -> None:
        if not cf.cancelled() and cf.exception() is None:
            try:
                self.connector.close(cf.result())
            except Exception:
                pass

    async def close(self, entry: PoolEntry[C], *, wait_s: float | None) -> None:
        """Close ``entry``'s connection, first waiting up to ``wait_s`` (None: not at all)
        for the call still running on it. Never raises."""
        try:
            if entry.inflight is not None and not entry.inflight.done() and wait_s is not None:
                inflight = asyncio.wrap_future(entry.inflight)
                await asyncio.wait([inflight], timeout=wait_s)
                # The abandoned call's outcome is of no interest; retrieve it (now or when
                # it ends) so asyncio does not log "Future exception was never retrieved".
                inflight.add_done_callback(_retrieve)
            try:
                await self.call(self.connector.close, entry.conn)
            except PoolClosedError:  # the threads are gone: close it here
                self.connector.close(entry.conn)
        except Exception:
            pass  # closing a broken connection may fail; it is gone either way


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
