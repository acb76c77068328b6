"""The store behind the LangGraph API's ``/store`` routes: a `MemoryStore` of its own.

`open_api_store` opens it for the app's lifetime: persisted under ``<data dir>/store``
(not the demo recall index under ``<data dir>/memory``), with the index the settings
choose (``SOPHIA_STORE_EMBEDDER``: the local hashing embedder by default, query
embeddings read through the engine's cache; ``SOPHIA_STORE_DISTANCE``), item TTLs
(``SOPHIA_STORE_DEFAULT_TTL_MINUTES``) and a sweeper every ``SOPHIA_STORE_SWEEP_MINUTES``.
Changes are snapshotted every `SAVE_INTERVAL_S` seconds and when the app stops.

The store lives in one process: the directory is locked (``store.lock``) by the process
that opened it, and another process on the same data dir (a second ``sophia serve``, a
second worker) answers the store routes with 503 saying so, rather than keep a copy
that would overwrite the other's snapshot.

`ApiStore.scoped` keeps each tenant in its own part of the store: the tenant's label
(``tenant-`` and a digest of the tenant id; ``open`` for a service without
authentication) is the first label of every namespace it writes and reads, and is
removed from what it is answered, so no tenant can name another's items.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from graphs.server.langgraph_api.errors import ApiError
from stores.cache.tiered import TieredCache
from stores.errors import SophiaError
from stores.memory.embeddings import CachedEmbeddings, HashingEmbeddings, MiniLMEmbeddings
from stores.memory.store import MemoryStore
from stores.settings import Settings

logger = logging.getLogger(__name__)

DIMS = 384
SAVE_INTERVAL_S = 30.0
"""How often a changed store is snapshotted while the app runs."""
OPEN_LABEL = "open"


def tenant_label(tenant: str | None) -> str:
    """The first namespace label of `tenant`'s items (a digest: any tenant id is a
    valid label, and none can be mistaken for another)."""
    if tenant is None:
        return OPEN_LABEL
    return "tenant-" + hashlib.sha256(tenant.encode()).hexdigest()[:32]


@dataclass
class ApiStore:
    """The store the routes use, or why there is none (`unavailable`)."""

    store: MemoryStore | None
    unavailable: str = ""

    def scoped(self) -> MemoryStore:
        """The open store; ApiError 503 naming why when this process has none."""
        if self.store is None:
            raise ApiError(503, self.unavailable)
        return self.store


def store_path(settings: Settings) -> Path:
    """Where the API's store keeps its snapshots."""
    return settings.data_dir / "store"


def _embedder(settings: Settings, cache: TieredCache | None) -> Any:
    minilm = settings.store_embedder == "minilm"
    embed: Any = MiniLMEmbeddings() if minilm else HashingEmbeddings(DIMS)
    return CachedEmbeddings(embed, cache, namespace="embeddings") if cache is not None else embed


def _lock(path: Path) -> IO[bytes] | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


async def _save_periodically(store: MemoryStore) -> None:
    while True:
        await asyncio.sleep(SAVE_INTERVAL_S)
        if store.dirty:
            try:
                await asyncio.to_thread(store.save)
            except SophiaError:
                logger.exception("could not snapshot the API store; will retry")


async def _open(settings: Settings, cache: TieredCache | None, path: Path) -> MemoryStore | str:
    """The store, loaded from its snapshot; or why it cannot be opened."""
    index: Any = {"dims": DIMS, "embed": _embedder(settings, cache), "fields": ["$"],
                  "distance_type": settings.store_distance}  # fmt: skip
    ttl: Any = {"default_ttl": settings.store_default_ttl_minutes,
                "sweep_interval_minutes": settings.store_sweep_minutes}  # fmt: skip
    store = MemoryStore(index=index, path=path, ttl=ttl)
    try:
        return await store.__aenter__()
    except SophiaError as exc:
        logger.error("the API store cannot be opened: %s", exc)
        return f"the store cannot be opened: {exc}"


@contextlib.asynccontextmanager
async def open_api_store(
    settings: Settings, cache: TieredCache | None = None
) -> AsyncIterator[ApiStore]:
    """The API's store for the app's lifetime (see the module doc); saved on exit."""
    path = store_path(settings)
    lock = await asyncio.to_thread(_lock, path.parent / "store.lock")
    if lock is None:
        yield ApiStore(None, f"the store under {path.parent.name}/store is open in another "
                       "process of this server; the store API is served by one process "
                       "(run sophia serve with one worker)")  # fmt: skip
        return
    try:
        opened = await _open(settings, cache, path)
        if isinstance(opened, str):
            yield ApiStore(None, opened)
            return
        await opened.start_ttl_sweeper()
        saver = asyncio.create_task(_save_periodically(opened), name="api-store-saver")
        try:
            yield ApiStore(opened)
        finally:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            await opened.__aexit__(None, None, None)
    finally:
        await asyncio.to_thread(lock.close)
