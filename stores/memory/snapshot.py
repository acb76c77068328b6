"""Atomic snapshot directories for `MemoryStore` persistence.

Layout under a root directory::

    root/CURRENT          the name of the live snapshot (replaced atomically)
    root/snap-<uuid>/     meta.bin (msgpack via stores.cache.serialization) + index files

A snapshot is written into ``root/.tmp-<uuid>``, fsynced, renamed to ``snap-<uuid>`` and
published by `os.replace` of ``CURRENT``; only then are older snapshots removed. A crash
at any point leaves the previous snapshot readable.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from langgraph.store.base import IndexConfig

from stores.cache import serialization
from stores.cache.errors import CacheSerializationError
from stores.memory.errors import MemoryStoreError

if TYPE_CHECKING:
    from stores.memory.hnsw import HnswIndex

META_FILE = "meta.bin"


def write_snapshot(root: Path, fill: Callable[[Path], None]) -> Path:
    """Create a snapshot under ``root``: ``fill(tmp_dir)`` writes its files.

    Returns the published snapshot directory. Raises `MemoryStoreError` (cause chained)
    when anything fails; the previous snapshot then stays current.
    """
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        fill(tmp)
        for file in tmp.iterdir():
            _fsync(file)
        final = root / f"snap-{uuid.uuid4().hex}"
        os.rename(tmp, final)
        pointer = root / f".CURRENT-{uuid.uuid4().hex}"
        pointer.write_text(final.name)
        _fsync(pointer)
        os.replace(pointer, root / "CURRENT")
        _fsync(root)
    except (OSError, CacheSerializationError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MemoryStoreError(f"could not save the memory store to {root}: {exc}") from exc
    for old in root.iterdir():
        if old != final and old.name.startswith(("snap-", ".tmp-", ".CURRENT-")):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    return final


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """Write the store's metadata (items, ids, parameters) into a snapshot being filled."""
    (directory / META_FILE).write_bytes(serialization.dumps(meta))


_LONG_LISTS = frozenset({"items", "namespaces"})


def read_snapshot(root: Path, version: int) -> tuple[Path, dict[str, Any]]:
    """The current snapshot directory under ``root`` and its metadata.

    Raises `MemoryStoreError` when there is none, it cannot be read, or its format
    version is not ``version``.
    """
    try:
        snap = root / (root / "CURRENT").read_text().strip()
        meta = serialization.loads_in_steps((snap / META_FILE).read_bytes(), _LONG_LISTS)
    except (OSError, ValueError, CacheSerializationError) as exc:
        raise MemoryStoreError(f"no readable memory-store snapshot at {root}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("version") != version:
        raise MemoryStoreError(f"snapshot at {root} has an unknown format")
    return snap, meta


def has_snapshot(root: Path) -> bool:
    """Whether ``root`` holds a published snapshot."""
    return (root / "CURRENT").is_file()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def index_config_of(root: Path, meta: dict[str, Any], embed: Any) -> IndexConfig | None:
    """The store's index config from a snapshot's meta (dims, fields and distance are the
    snapshot's; `embed` serves later puts and queries); None when it has no index."""
    state = meta["index"]
    if state is None:
        return None
    if embed is None:
        raise MemoryStoreError(f"the snapshot at {root} has a vector index: pass embed=")
    return cast(IndexConfig, {"dims": int(state["dims"]), "embed": embed,
                              "fields": meta["fields"],
                              "distance_type": state.get("distance")})  # fmt: skip


def check_index_matches(root: Path, state: dict[str, Any] | None, index: HnswIndex | None) -> None:
    """Raise `MemoryStoreError` unless the snapshot's index `state` fits the store's `index`
    (both absent, or the same dims and distance)."""
    if (state is None) != (index is None):
        raise MemoryStoreError(f"snapshot at {root} and this store differ in having an index")
    if state is None or index is None:
        return
    theirs = f"dims={state['dims']}, distance={state.get('distance', 'cosine')}"
    ours = f"dims={index.dims}, distance={index.distance}"
    if theirs != ours:
        raise MemoryStoreError(f"snapshot at {root} has {theirs}, store has {ours}")
