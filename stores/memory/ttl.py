"""Item expiry for `MemoryStore`, as LangGraph's `TTLConfig` describes it.

An item put with ``ttl`` (minutes) expires ``ttl`` minutes after its last write, or
after its last read when reads refresh it (``refresh_ttl``, by default the store's
``ttl_config["refresh_on_read"]``, itself True by default). Expiry times are wall-clock
epoch seconds, so they survive a snapshot and a restart.

`Expiries` keeps a min-heap of ``(expires_at, namespace, key)``: asking whether anything
is due is one comparison, and refreshing an item pushes a newer entry instead of
searching the heap (stale entries are skipped when popped: an entry counts only if it
still matches its item's current expiry). `TtlSweeper` is the background task that
deletes expired items every ``sweep_interval_minutes``; reads do not wait for it, the
store removes due items before every batch of reads, so a read never returns an item
that expired before the read began.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from stores.memory.errors import MemoryStoreError

logger = logging.getLogger(__name__)

DEFAULT_SWEEP_MINUTES = 5.0
"""How often the sweeper runs when the TTL config does not say (as LangGraph's stores)."""

Namespace = tuple[str, ...]


def expiry(ttl_minutes: float | None, now: float) -> float | None:
    """The epoch second at which an item written (or read) at `now` with `ttl_minutes`
    expires (None: never)."""
    if ttl_minutes is None:
        return None
    return now + float(ttl_minutes) * 60.0


class Expiries:
    """Which items expire when: a heap of ``(expires_at, namespace, key)``.

    Thread-safe: readers refresh items concurrently under the store's shared lock.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, Namespace, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, expires_at: float | None, namespace: Namespace, key: str) -> None:
        """Record that the item `namespace`/`key` expires at `expires_at` (None: never)."""
        if expires_at is None:
            return
        with self._lock:
            heapq.heappush(self._heap, (expires_at, namespace, key))

    def due(self, now: float) -> bool:
        """Whether some entry is at or past its time at `now` (it may be stale: see
        `pop_due`)."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now

    def pop_due(self, now: float) -> Iterator[tuple[float, Namespace, str]]:
        """Pop every entry at or before `now` (the caller checks each against its item)."""
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                yield heapq.heappop(self._heap)

    def clear(self) -> None:
        """Forget every entry (before a snapshot is loaded)."""
        with self._lock:
            self._heap.clear()


class TtlSweeper:
    """A task that calls `sweep` every `interval_s` seconds until stopped.

    A failing sweep is logged and the next one runs on time: the sweeper never dies
    because one sweep failed.
    """

    def __init__(self, sweep: Callable[[], Awaitable[int]], interval_s: float) -> None:
        self.sweep = sweep
        self.interval_s = max(0.01, interval_s)
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] = asyncio.create_task(self._run(), name="store-ttl-sweeper")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
            if self._stop.is_set():
                return
            try:
                swept = await self.sweep()
            except Exception:
                logger.exception("store TTL sweep failed")
                continue
            if swept:
                logger.info("store TTL sweep deleted %d expired items", swept)

    async def stop(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Stop the task; whether it ended within `timeout` seconds (None: wait)."""
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except TimeoutError:
            return False
        return True


def sweep_interval_s(config: Mapping[str, Any] | None, minutes: float | None) -> float:
    """Seconds between sweeps: `minutes` if given, else the TTL config's
    ``sweep_interval_minutes``, else `DEFAULT_SWEEP_MINUTES`."""
    chosen = minutes or (config or {}).get("sweep_interval_minutes") or DEFAULT_SWEEP_MINUTES
    return float(chosen) * 60.0


def ttl_minutes(value: Any) -> float | None:
    """A put's ``ttl`` as minutes (None: never expires); `MemoryStoreError` unless it is
    a positive number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise MemoryStoreError(f"ttl must be a positive number of minutes or None, got {value!r}")
    return float(value)
