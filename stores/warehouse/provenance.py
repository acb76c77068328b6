"""Where a run's data came from: the row cache or the warehouse, per table and column.

The engine opens a `Provenance` for each run (`track()`); the batch loaders record into
whichever one is current (a context variable, so parallel branches of one run share it
and concurrent runs never mix). The run's result reports it, so a degraded or cached
answer is explicit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_current: ContextVar[Provenance | None] = ContextVar("sophia_provenance", default=None)


class Provenance:
    """Counts of keys served from the cache and from the warehouse, per ``table.column``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def record(self, source: str, cached: int, loaded: int) -> None:
        """Add `cached` keys served by the cache and `loaded` keys read from the warehouse."""
        if not cached and not loaded:
            return
        with self._lock:
            entry = self._counts.setdefault(source, {"cache": 0, "warehouse": 0})
            entry["cache"] += cached
            entry["warehouse"] += loaded

    def snapshot(self) -> dict[str, Any]:
        """``{"table.column": {"cache": n, "warehouse": m}}``, sorted by source."""
        with self._lock:
            return {k: dict(v) for k, v in sorted(self._counts.items())}


def current() -> Provenance | None:
    """The provenance of the run in progress, if any."""
    return _current.get()


@contextlib.contextmanager
def track() -> Iterator[Provenance]:
    """Make a fresh `Provenance` current for the duration of a run."""
    prov = Provenance()
    token = _current.set(prov)
    try:
        yield prov
    finally:
        _current.reset(token)


@contextlib.contextmanager
def attached(prov: Provenance) -> Iterator[Provenance]:
    """Make an existing `Provenance` current for the block (streams re-attach per step)."""
    token = _current.set(prov)
    try:
        yield prov
    finally:
        _current.reset(token)
