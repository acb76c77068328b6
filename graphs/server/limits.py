"""Admission control for the HTTP service: a concurrency limit with a bounded wait queue,
a tracker of in-flight runs that shutdown can wait on, and `Admission`, the one way a
run gets in (the caller's quotas, then a place in the queue, then a slot): every run the
service executes goes through it, from ``/graphs/{name}/invoke`` as from the LangGraph
API's ``/runs`` routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

from graphs.server.caller import Caller
from graphs.server.quotas import Quotas
from stores.errors import SophiaError


class OverloadedError(SophiaError):
    """Every run slot is busy and the wait queue is full: the caller should retry later."""

    def __init__(self, limit: int, max_waiting: int, retry_after_s: int) -> None:
        super().__init__(
            f"server busy: {limit} runs in progress and {max_waiting} waiting; "
            f"retry in {retry_after_s}s"
        )
        self.retry_after_s = retry_after_s


class ConcurrencyLimiter:
    """At most `limit` holders at once; at most `max_waiting` callers queue for a slot.

    A caller that arrives when the queue is full gets `OverloadedError` at once instead
    of waiting: the server sheds load rather than piling up requests it cannot serve.
    """

    def __init__(self, limit: int, max_waiting: int, retry_after_s: int = 1) -> None:
        if limit < 1:
            raise ValueError(f"the concurrency limit must be at least 1, got {limit}")
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.limit = limit
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self._sem = asyncio.Semaphore(limit)
        self._waiting = 0
        self._active = 0
        self.rejected = 0

    async def acquire(self) -> None:
        """Take a slot, waiting in the bounded queue; OverloadedError when it is full."""
        self.reserve()
        await self.take_reserved()

    def reserve(self, *, force: bool = False) -> None:
        """Take a place in the queue now (OverloadedError when it is full, unless `force`);
        then `take_reserved` waits for a slot, or `unreserve` gives the place back."""
        if not force and self._sem.locked() and self._waiting >= self.max_waiting:
            self.rejected += 1
            raise OverloadedError(self.limit, self.max_waiting, self.retry_after_s)
        self._waiting += 1

    async def take_reserved(self) -> None:
        """Wait for a slot with the place `reserve` took (given back if cancelled)."""
        try:
            await self._sem.acquire()
        finally:
            self._waiting -= 1
        self._active += 1

    def unreserve(self) -> None:
        """Give back a place taken with `reserve` and never used."""
        self._waiting -= 1

    def release(self) -> None:
        """Give back a slot taken with `acquire`."""
        self._active -= 1
        self._sem.release()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the body of the ``async with``."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def stats(self) -> dict[str, int]:
        """Active holders, queued waiters, the limits and how many callers were turned away."""
        return {
            "active": self._active,
            "waiting": self._waiting,
            "limit": self.limit,
            "max_waiting": self.max_waiting,
            "rejected": self.rejected,
        }


class InFlightRuns:
    """Counts runs in progress so shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        """Runs in progress now."""
        return self._count

    def enter(self) -> None:
        """Mark one more run in progress."""
        self._count += 1
        self._idle.clear()

    def leave(self) -> None:
        """Mark a run finished (whatever its outcome)."""
        self._count -= 1
        if self._count <= 0:
            self._count = 0
            self._idle.set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the body of the ``with`` as one run in progress."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no run is in progress, at most `timeout_s`; True when idle."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


class Ticket:
    """One run's way through admission: a quota count and a place in the queue (taken by
    `Admission.reserve`), then a slot (`enter`). `leave` gives back whatever it holds,
    once, however the run ended."""

    def __init__(
        self, limiter: ConcurrencyLimiter, in_flight: InFlightRuns, quota: Callable[[], None]
    ) -> None:
        self._limiter = limiter
        self._in_flight = in_flight
        self._quota = quota
        self._state = "queued"

    async def enter(self) -> None:
        """Wait for a run slot (the place in the queue was taken already)."""
        if self._state != "queued":
            raise RuntimeError(f"a ticket enters once (it is {self._state})")
        self._state = "waiting"
        await self._limiter.take_reserved()
        self._state = "running"
        self._in_flight.enter()

    def leave(self) -> None:
        """Give back the slot (or the unused place in the queue) and the quota count."""
        state, self._state = self._state, "left"
        if state == "running":
            self._limiter.release()
            self._in_flight.leave()
        elif state == "queued":
            self._limiter.unreserve()
        # "waiting": take_reserved gave the place back when it was cancelled
        if state != "left":
            self._quota()

    async def __aenter__(self) -> Ticket:
        await self.enter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.leave()


class Admission:
    """Quotas, the bounded queue and the run slots, checked in that order."""

    def __init__(self, limiter: ConcurrencyLimiter, quotas: Quotas, in_flight: InFlightRuns):
        self.limiter = limiter
        self.quotas = quotas
        self.in_flight = in_flight

    def reserve(self, caller: Caller, *, force: bool = False) -> Ticket:
        """A ticket for one run of `caller`, or QuotaExceededError (429) / OverloadedError
        (503) at once. `force` skips the queue bound (runs resumed after a restart)."""
        quota = self.quotas.admit(caller)
        try:
            self.limiter.reserve(force=force)
        except BaseException:
            quota()
            raise
        return Ticket(self.limiter, self.in_flight, quota)
