"""The checkpoint serializer: strict msgpack with an explicit allow-list, on every store.

LangGraph's `JsonPlusSerializer` imports and calls whatever module and function a
checkpoint names unless told otherwise (``LANGGRAPH_STRICT_MSGPACK`` unset), so a row
written into the checkpoint store by someone else could run code when a thread's state
is read. Ours rebuilds only LangGraph's own safe types (dates, UUIDs, decimals, sets,
LangGraph's `Send`/`Interrupt`, langchain-core messages: `SAFE_MSGPACK_TYPES`) plus the
types listed in `STATE_TYPES`; anything else is refused (LangGraph logs it once and
keeps the raw payload instead of an object). The old "json" checkpoint format is refused
for every non-safe type too.
"""

from __future__ import annotations

from collections.abc import Iterable

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

STATE_TYPES: tuple[tuple[str, str], ...] = ()
"""(module, name) of the classes our graphs keep in state beyond LangGraph's safe types:
none today (states hold JSON-like values, dates and LangGraph's own types)."""


def checkpoint_serializer(extra: Iterable[tuple[str, str]] = ()) -> JsonPlusSerializer:
    """A serializer that rebuilds only safe types, `STATE_TYPES` and `extra`."""
    allowed = [*STATE_TYPES, *extra]
    return JsonPlusSerializer(
        allowed_json_modules=None,
        # None: LangGraph's safe types only; a list adds exactly those classes.
        allowed_msgpack_modules=allowed or None,
    )
