"""One load per key: callers that want the same missing key share one loading task.

The task belongs to the `SingleFlight`, not to a caller: a caller that is cancelled stops
waiting while the load goes on for the others, and an error reaches every waiter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class SingleFlight:
    """Coalesces concurrent loads of one key into a single task (see the module docstring)."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[Any]] = {}

    def __len__(self) -> int:
        """How many loads are running."""
        return len(self._inflight)

    def joinable(self, key: str) -> bool:
        """Whether a load of ``key`` is running now (a caller would join it)."""
        return key in self._inflight

    async def run(self, key: str, load: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """``(await load(), joined)``: the running load of ``key`` if there is one (joined
        is then True), else a new one started now."""
        task = self._inflight.get(key)
        joined = task is not None
        if task is None:
            task = asyncio.get_running_loop().create_task(_await(load), name=f"load {key}")
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._done(key, t))
        # shield: a cancelled caller stops waiting; the shared load goes on for the others.
        return await asyncio.shield(task), joined

    async def cancel_all(self) -> None:
        """Cancel every running load and wait for them to end."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()

    def _done(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not logged twice


async def _await(load: Callable[[], Awaitable[Any]]) -> Any:
    return await load()
