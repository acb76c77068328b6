"""The engine's memory index as it becomes available, so that opening never waits for it.

`MemoryIndex` is what the engine hands nodes as ``Resources.memory``. On open it starts one
background task that makes the index ready: it loads the snapshot under the data dir in a
daemon thread (a 120,000-item index takes seconds; a process that is done does not
wait for it), or, while a builder process writes one
(`graphs.seeding.memory_build`), reports its progress and loads the snapshot once it is
published; with neither it waits for one to appear (a ``sophia seed`` in another shell).
Until then `store` is None and `status` says why (``loading``, ``building`` with its
progress, ``absent``, ``failed``): the memory branch reports that instead of blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from graphs.seeding.memory import memory_path
from graphs.seeding.memory_build import read_status
from stores.memory.snapshot import has_snapshot
from stores.memory.store import MemoryStore

logger = logging.getLogger(__name__)

IndexState = Literal["loading", "building", "absent", "ready", "failed"]


class MemoryIndex:
    """The memory store once it is ready, and what it is doing until then."""

    def __init__(
        self,
        data_dir: Path,
        make_store: Callable[[], MemoryStore],
        *,
        on_ready: Callable[[], None] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.data_dir = data_dir
        self._make_store = make_store
        self._on_ready = on_ready
        self._poll_s = poll_s
        self._store: MemoryStore | None = None
        self._task: asyncio.Task[None] | None = None
        self.state: IndexState = "loading"
        self.error: str | None = None
        self.progress: float | None = None
        self._ready = asyncio.Event()

    @property
    def store(self) -> MemoryStore | None:
        """The loaded store, or None while it is not ready."""
        return self._store

    def status(self) -> dict[str, Any]:
        """``{"state", "progress"?, "items"?, "error"?, "message"}``: JSON-ready."""
        out: dict[str, Any] = {"state": self.state}
        if self.state == "building" and self.progress is not None:
            out["progress"] = round(self.progress, 3)
        if self.state == "ready" and self._store is not None:
            out["items"] = len(self._store)
        if self.error:
            out["error"] = self.error
        out["message"] = _MESSAGES[self.state].format(pct=round(100 * (self.progress or 0)))
        return out

    async def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Wait until the store is ready (at most `timeout_s`); whether it is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        return self._ready.is_set()

    async def __aenter__(self) -> MemoryIndex:
        self._task = asyncio.create_task(self._become_ready(), name="sophia-memory-index")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        store, self._store = self._store, None
        if store is not None:
            await store.__aexit__(None, None, None)

    async def _become_ready(self) -> None:
        path = memory_path(self.data_dir)
        while True:
            if await asyncio.to_thread(has_snapshot, path):
                await self._load()
                return
            build = await asyncio.to_thread(read_status, self.data_dir)
            if build is not None and build.error is not None:
                self.state, self.error = "failed", build.error
            elif build is not None and build.alive():
                self.state, self.progress = "building", build.fraction
            else:
                self.state = "absent"
            await asyncio.sleep(self._poll_s)

    async def _load(self) -> None:
        self.state = "loading"
        store = self._make_store()
        try:
            await _in_daemon_thread(store.load_snapshot)
        except Exception as exc:
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            logger.warning("the memory index under %s could not be loaded: %s",
                           self.data_dir, self.error)  # fmt: skip
            return
        self._store, self.state, self.error = store, "ready", None
        self._ready.set()
        if self._on_ready is not None:
            self._on_ready()


async def _in_daemon_thread(load: Callable[[], Any]) -> Any:
    """`load()` in a daemon thread of its own: a process that is done (a one-shot `sophia
    run`) exits without waiting for a load it no longer needs, as it would have to for a
    thread of the loop's default executor."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: Any, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(outcome)

    def target() -> None:
        try:
            outcome, error = load(), None
        except BaseException as exc:  # handed to the awaiting task
            outcome, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=target, name="sophia-memory-load", daemon=True).start()
    return await done


_MESSAGES: dict[str, str] = {
    "loading": "index loading: memories are recalled once it is loaded",
    "building": "index building ({pct}%): memories are recalled once it is built",
    "absent": "no memory index yet: `sophia seed` builds it",
    "ready": "index ready",
    "failed": "the memory index failed: `sophia seed` rebuilds it",
}
