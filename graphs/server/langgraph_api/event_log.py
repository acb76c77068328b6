"""The events one run streamed, numbered, for every stream that follows the run.

    log = EventLog()
    reader = log.reader()              # from the first event (or after=N)
    await log.publish("values", {...}) # the run, one event at a time
    await log.close()                  # the run ended
    async for seq, event, data in reader: ...

Each event gets the next number (1, 2, ...), sent as the SSE ``id:`` so a client can
rejoin after the last one it saw (``Last-Event-ID``). The log keeps the last `keep`
events; readers start anywhere in it and then follow live. A reader more than `lag`
events behind makes `publish` wait (a slow stream slows its run; memory stays
bounded); a reader that stops (its client left) no longer holds anything back.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

LOG_KEEP = 2000
"""Events a run's log keeps for streams that join or rejoin it."""
READER_LAG = 256
"""Events a reader may fall behind before the run waits for it."""

Event = tuple[int, str, Any]


class EventLog:
    """A run's numbered events (see the module docstring)."""

    def __init__(self, keep: int = LOG_KEEP, lag: int = READER_LAG) -> None:
        self.items: deque[Event] = deque(maxlen=keep)
        self.last = 0
        self.closed = False
        self.lag = lag
        self._cursors: dict[int, int] = {}
        self._ids = itertools.count()
        self._changed = asyncio.Condition()
        self._waking: asyncio.Task[None] | None = None

    async def publish(self, event: str, data: Any) -> int:
        """Append one event (waiting for readers too far behind); its number."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: all(self.last - c < self.lag for c in self._cursors.values())
            )
            self.last += 1
            self.items.append((self.last, event, data))
            self._changed.notify_all()
            return self.last

    async def close(self) -> None:
        """The run ended: readers stop after the last event."""
        async with self._changed:
            self.closed = True
            self._changed.notify_all()

    def forget(self) -> None:
        """Drop the kept events (a finished run's, to bound memory)."""
        self.items.clear()

    def reader(self, after: int = 0) -> LogReader:
        """A reader of the events numbered above `after`, registered now (so the run
        cannot run ahead of it before it starts reading)."""
        key = next(self._ids)
        self._cursors[key] = after
        return LogReader(self, key, after)

    async def _next_batch(self, key: int, cursor: int) -> list[Event]:
        async with self._changed:
            self._cursors[key] = cursor
            self._changed.notify_all()
            await self._changed.wait_for(lambda: self.last > cursor or self.closed)
            return [item for item in self.items if item[0] > cursor]

    def _leave(self, key: int) -> None:
        if self._cursors.pop(key, None) is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: nothing can be waiting on this log
            return
        self._waking = loop.create_task(self._wake())

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class LogReader:
    """One stream's place in an `EventLog`; iterate it for ``(number, event, data)``
    until the run ends; `close` it when the stream ends."""

    def __init__(self, log: EventLog, key: int, after: int) -> None:
        self.log, self.key, self.cursor = log, key, after
        self._open = True

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._follow()

    async def _follow(self) -> AsyncIterator[Event]:
        try:
            while self._open:
                batch = await self.log._next_batch(self.key, self.cursor)
                if not batch:
                    return  # closed, nothing left
                for item in batch:
                    self.cursor = item[0]
                    yield item
                if self.log.closed and self.cursor >= self.log.last:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop holding the run back (idempotent)."""
        if self._open:
            self._open = False
            self.log._leave(self.key)
