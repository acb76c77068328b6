"""LangGraph's stream parts as the LangGraph server names them on the wire.

The SDK's stream modes map onto LangGraph's own (`langgraph_modes`): ``messages-tuple``
is LangGraph's ``messages`` sent as it comes (``[message chunk, metadata]``, event
``messages``); ``messages`` is the same stream accumulated per message id as LangGraph's
server does it (``messages/metadata`` once per message, then ``messages/partial`` with
the message so far, ``messages/complete`` for a whole message); ``events`` drives the run
with ``astream_events`` (event ``events``); ``values``, ``updates``, ``tasks``,
``checkpoints``, ``debug`` and ``custom`` are LangGraph's own. With subgraphs a
subgraph's chunk is named ``mode|ns`` (its namespace joined by ``|``). ``tools`` and
``lifecycle`` are modes of LangGraph's hosted server that ``astream`` does not have:
refused (422).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langgraph.types import StreamMode

from graphs.server.encoding import EncodingError, dumps
from graphs.server.langgraph_api.errors import ApiError

_LANGGRAPH: dict[str, StreamMode | None] = {
    "values": "values", "updates": "updates", "messages": "messages",
    "messages-tuple": "messages", "tasks": "tasks", "checkpoints": "checkpoints",
    "debug": "debug", "custom": "custom", "events": None,
}  # fmt: skip
_REFUSED = {
    "tools": "'tools' (tool events of LangGraph's hosted server; use 'events')",
    "lifecycle": "'lifecycle' (subgraph start/end events of LangGraph's hosted server; "
    "use 'tasks' with stream_subgraphs)",
}
ALWAYS = ("metadata", "error")
"""Events every stream carries, whatever its modes."""


def requested_modes(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    """The SDK stream modes a body asks for, in order, once each (default: values);
    ApiError 422 naming a mode this server cannot stream."""
    modes = tuple(dict.fromkeys([raw] if isinstance(raw, str) else list(raw or ["values"])))
    refused = [_REFUSED[m] for m in modes if m in _REFUSED]
    if refused:
        raise ApiError(422, f"stream_mode {', '.join(refused)} is not supported by this "
                       "server: LangGraph's astream has no such mode")  # fmt: skip
    return modes or ("values",)


def langgraph_modes(modes: Iterable[str]) -> tuple[StreamMode, ...]:
    """LangGraph's stream modes for SDK `modes` (``events`` needs none of its own)."""
    mapped = [_LANGGRAPH[m] for m in modes]
    return tuple(dict.fromkeys(m for m in mapped if m is not None))


def event_mode(event: str) -> str | None:
    """The SDK mode an event on the wire belongs to (None: every stream's)."""
    base = event.split("|", 1)[0]
    if base in ALWAYS:
        return None
    if base.startswith("messages/"):
        return "messages"
    return "messages-tuple" if base == "messages" else base


class EventMapper:
    """Turns one run's ``(ns, mode, chunk)`` parts into its wire events."""

    def __init__(self, modes: Sequence[str], subgraphs: bool) -> None:
        self.modes = set(modes)
        self.subgraphs = subgraphs
        self._messages: dict[str, Any] = {}

    def events(self, ns: tuple[str, ...], mode: str, chunk: Any) -> list[tuple[str, Any]]:
        """The wire events of one part (none when its mode was not asked for)."""
        if mode == "events":
            return [("events", _encodable(chunk))] if "events" in self.modes else []
        if mode == "messages":
            out: list[tuple[str, Any]] = []
            if "messages-tuple" in self.modes:
                out.append(("messages", list(chunk)))
            if "messages" in self.modes:
                out.extend(self._accumulated(chunk))
            return out
        if mode not in self.modes:
            return []
        if ns and self.subgraphs:
            return [(f"{mode}|{'|'.join(ns)}", chunk)]
        return [(mode, chunk)]

    def _accumulated(self, chunk: Any) -> list[tuple[str, Any]]:
        from langchain_core.messages import BaseMessageChunk, message_chunk_to_message

        message, metadata = chunk
        key = str(message.id)
        out: list[tuple[str, Any]] = []
        seen = self._messages.get(key)
        if seen is None:
            out.append(("messages/metadata", {message.id: {"metadata": metadata}}))
            self._messages[key] = message
        elif isinstance(seen, BaseMessageChunk) and isinstance(message, BaseMessageChunk):
            self._messages[key] = seen + message
        else:
            self._messages[key] = message
        kind = "messages/partial" if isinstance(message, BaseMessageChunk) else "messages/complete"
        out.append((kind, [message_chunk_to_message(self._messages[key])]))
        return out


def _encodable(event: dict[str, Any]) -> dict[str, Any]:
    """An ``astream_events`` event as it can be sent: a value without a JSON form (a
    node's Python object) is left out of its ``data``, saying so, never sent as a repr."""
    try:
        dumps(event)
        return event
    except EncodingError:
        data = event.get("data")
        kept = {}
        for key, value in (data.items() if isinstance(data, dict) else ()):
            try:
                dumps(value)
                kept[key] = value
            except EncodingError:
                kept[key] = {"omitted": "no JSON form"}
        safe = {k: v for k, v in event.items() if k != "data"}
        try:
            dumps(safe)
        except EncodingError:
            safe = {k: event.get(k) for k in ("event", "name", "run_id", "tags")}
        return {**safe, "data": kept}
