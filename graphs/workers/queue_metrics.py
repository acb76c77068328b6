"""The run queue's gauges: how many runs wait to start, and for how long the oldest has.

    async with queue_gauges(engine.durable.runs):   # an API server or worker's lifetime
        ...

A sampler reads the run table (`RunStore.waiting`: runs ``pending``) every
`SAMPLE_EVERY_S` and the observable gauges report its last reading when a reader collects
(``/metrics``): ``sophia_run_queue_depth`` and ``sophia_run_queue_oldest_age_seconds``.
The gauges are made once per process (OpenTelemetry keeps the first callback of a name)
and report every live sampler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from opentelemetry import metrics

logger = logging.getLogger(__name__)

SAMPLE_EVERY_S = 5.0
"""How often the queue is read (one indexed count per process)."""


class QueueSampler:
    """The last reading of the run queue (`depth`, `oldest`: epoch seconds or None)."""

    def __init__(self, runs: Any) -> None:
        self.runs = runs
        self.depth = 0
        self.oldest: float | None = None

    async def sample(self) -> None:
        """Read the queue once (a failed read keeps the last reading, logged)."""
        try:
            self.depth, self.oldest = await self.runs.waiting()
        except Exception as exc:
            logger.warning("cannot read the run queue's depth: %s", exc)

    @property
    def oldest_age_s(self) -> float:
        """Seconds the oldest waiting run has waited (0 when none waits)."""
        return max(0.0, time.time() - self.oldest) if self.oldest is not None else 0.0


_live: weakref.WeakSet[QueueSampler] = weakref.WeakSet()
_lock = threading.Lock()
_made = False


def _observe(read: str) -> Any:
    def observe(_: metrics.CallbackOptions) -> Iterator[metrics.Observation]:
        for sampler in list(_live):
            yield metrics.Observation(getattr(sampler, read))

    return observe


def _ensure_gauges() -> None:
    global _made
    with _lock:
        if _made:
            return
        _made = True
    meter = metrics.get_meter("sophia.run_queue")
    meter.create_observable_gauge("sophia.run_queue.depth", [_observe("depth")], unit="{run}",
                                  description="Runs accepted and not started yet")  # fmt: skip
    meter.create_observable_gauge("sophia.run_queue.oldest_age", [_observe("oldest_age_s")],
                                  unit="s", description="How long the oldest waiting run "
                                  "has waited")  # fmt: skip


@contextlib.asynccontextmanager
async def queue_gauges(runs: Any, every_s: float = SAMPLE_EVERY_S) -> AsyncIterator[QueueSampler]:
    """Sample `runs` (a `RunStore`) every `every_s` for the block, reported by the gauges."""
    sampler = QueueSampler(runs)
    _ensure_gauges()
    _live.add(sampler)

    async def loop() -> None:
        while True:
            await sampler.sample()
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop(), name="run-queue-gauges")
    try:
        yield sampler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        _live.discard(sampler)
