"""One Redis read for every run an API server follows.

    hub = EventHub(redis_client)          # an API server's, for its lifetime
    inbox = hub.subscribe(run_id)         # (entry id, event, data) items, from the first
    item = await inbox.get()              # ... or (last id, IDLE, None) ticks
    hub.unsubscribe(run_id)
    await hub.aclose()

A follower per run with its own blocking ``XREAD`` holds a Redis connection per run: past
the client's pool (100 connections) followers failed. The hub has one task that reads
every followed stream in one blocking ``XREAD`` and hands each entry to its run's inbox.
A run subscribed while that read blocks is picked up at once: `subscribe` appends to the
hub's own wake-up stream, which the read includes. When a read returns nothing (or fails)
every inbox gets an ``IDLE`` tick, so a follower can check its run's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from graphs.workers.events import BLOCK_MS, END, IDLE, KEEP_S, decode, stream_key

logger = logging.getLogger(__name__)

RETRY_S = 1.0
"""Pause before reading again after Redis failed."""
Item = tuple[str, str, Any]


class EventHub:
    """Follows many runs' event streams with one task (see the module docstring)."""

    def __init__(self, redis: Any, block_ms: int = BLOCK_MS) -> None:
        self.redis = redis
        self.block_ms = block_ms
        self._inboxes: dict[str, asyncio.Queue[Item]] = {}
        self._after: dict[str, str] = {}
        self._wake_key = f"sophia:hub:{uuid.uuid4().hex}"
        self._wake_after = "$"
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._waker: set[asyncio.Task[None]] = set()
        self._ticked = time.monotonic()

    def subscribe(self, run_id: str, after: str = "0-0") -> asyncio.Queue[Item]:
        """The inbox of `run_id`'s events after entry `after` (its last one is END)."""
        inbox: asyncio.Queue[Item] = asyncio.Queue()
        self._inboxes[run_id] = inbox
        self._after[run_id] = after
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read(), name="run-event-hub")
        self._changed.set()
        task = asyncio.create_task(self._wake())
        self._waker.add(task)
        task.add_done_callback(self._waker.discard)
        return inbox

    def unsubscribe(self, run_id: str) -> None:
        """Stop following `run_id` (idempotent)."""
        self._inboxes.pop(run_id, None)
        self._after.pop(run_id, None)

    async def _wake(self) -> None:
        with contextlib.suppress(Exception):  # the read picks the run up at its next turn
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=10, approximate=True)
                pipe.expire(self._wake_key, KEEP_S)
                await pipe.execute()

    async def _read(self) -> None:
        while True:
            if not self._inboxes:
                self._changed.clear()
                await self._changed.wait()
                continue
            keys = {stream_key(run): after for run, after in self._after.items()}
            keys[self._wake_key] = self._wake_after
            try:
                answer = await self.redis.xread(keys, count=500, block=self.block_ms)
            except Exception as exc:
                logger.warning("reading run events from Redis: %s", exc)
                self._tick()
                await asyncio.sleep(RETRY_S)
                continue
            if not answer or time.monotonic() - self._ticked > self.block_ms / 1000:
                self._tick()
            for key, entries in answer or ():
                self._deliver(key.decode() if isinstance(key, bytes) else str(key), entries)

    def _deliver(self, key: str, entries: list[Any]) -> None:
        if key == self._wake_key:
            last = entries[-1][0]
            self._wake_after = last.decode() if isinstance(last, bytes) else str(last)
            return
        run_id = key.removeprefix("sophia:run:").removesuffix(":events")
        inbox = self._inboxes.get(run_id)
        if inbox is None:
            return
        for entry_id, fields in entries:
            entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            event, data = decode(fields)
            self._after[run_id] = entry
            inbox.put_nowait((entry, event, data))
            if event == END:
                self.unsubscribe(run_id)
                return

    def _tick(self) -> None:
        self._ticked = time.monotonic()
        for run_id, inbox in self._inboxes.items():
            inbox.put_nowait((self._after.get(run_id, "0-0"), IDLE, None))

    async def aclose(self) -> None:
        """Stop reading (inboxes get nothing more)."""
        for task in [self._task, *self._waker]:
            if task is not None:
                task.cancel()
        tasks = [t for t in (self._task, *self._waker) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
