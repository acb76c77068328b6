"""The memory store's errors."""

from __future__ import annotations

from langgraph.store import base as langgraph_store

from stores.errors import SophiaError


class MemoryStoreError(SophiaError):
    """The memory store could not complete an operation (index, persistence, filter)."""


class InvalidNamespace(MemoryStoreError, langgraph_store.InvalidNamespaceError):
    """A namespace that LangGraph's store API does not allow (empty label, ``.`` in a
    label, an empty namespace or ``langgraph`` as the root of a put). It is also
    LangGraph's `InvalidNamespaceError`, which callers of any store catch."""
