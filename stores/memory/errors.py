"""The memory store's errors."""

from __future__ import annotations

from stores.errors import SophiaError


class MemoryStoreError(SophiaError):
    """The memory store could not complete an operation (index, persistence, filter)."""
