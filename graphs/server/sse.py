"""The one server-sent-events writer of the service, on sse-starlette.

    return event_stream(events(), on_close=release)

`events` yields ``(event name, data)`` pairs, or ``(event name, data, id)``; each is sent
as ``event: NAME``, one ``data:`` line of JSON (`graphs.server.encoding`) and, given an
id, an ``id:`` line (what a client sends back as ``Last-Event-ID`` to resume after it),
separated by ``\\n``. sse-starlette
adds what a long stream needs: a keep-alive comment (``: ping ...``) every
`PING_INTERVAL_S` so proxies keep the connection open, and it notices a client that
went away at once (it listens for ``http.disconnect``), cancelling the stream.

An event without a JSON form (`graphs.server.encoding`) ends the stream with an
``error`` event (`UNENCODABLE`). However the response ends (the events ran out, the
client left, the send failed, the server shut down), `events` is closed, which stops
the run behind it, and then `on_close` is called exactly once. On server shutdown a
stream gets `grace_s` to finish before it is cancelled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from graphs.server.encoding import EncodingError, dumps

logger = logging.getLogger(__name__)

__all__ = ["PING_INTERVAL_S", "event_stream", "frame"]

PING_INTERVAL_S = 15.0
"""Seconds between keep-alive comments on an idle stream."""
UNENCODABLE = {"error": "internal", "message": "an event could not be written as JSON; "
               "the server log has details"}  # fmt: skip
"""The ``error`` event that ends a stream whose next event has no JSON form."""


def frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One event on the wire. JSON text never holds a raw line break, so one ``data:``
    line carries it whole."""
    line = f"id: {event_id}\n" if event_id is not None else ""
    return f"event: {event}\ndata: {dumps(data)}\n{line}\n".encode()


Events = AsyncIterator[tuple[str, Any]] | AsyncIterator[tuple[str, Any, str]]


async def _frames(events: Events) -> AsyncGenerator[bytes, None]:
    async with contextlib.aclosing(events):  # type: ignore[type-var]
        async for item in events:
            event, data = item[0], item[1]
            try:
                chunk = frame(event, data, item[2] if len(item) > 2 else None)
            except EncodingError:
                # A value without a JSON form is a bug behind the stream: say so (without
                # the value) and end the stream, which stops the run.
                logger.exception("event %r of a stream has no JSON form", event)
                yield frame("error", UNENCODABLE)
                return
            yield chunk


class _EventStream(EventSourceResponse):
    """An EventSourceResponse that closes its events and calls `on_close` at the end."""

    def __init__(
        self,
        events: Events,
        on_close: Callable[[], None] | None,
        headers: Mapping[str, str] | None,
        grace_s: float,
    ) -> None:
        self._frames = _frames(events)
        super().__init__(
            self._frames,
            headers=headers,
            sep="\n",
            ping=PING_INTERVAL_S,
            shutdown_grace_period=grace_s,
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                # Usually closed already; not when the stream never started.
                await self._frames.aclose()
            finally:
                if self._on_close is not None:
                    on_close, self._on_close = self._on_close, None
                    on_close()


def event_stream(
    events: Events,
    *,
    on_close: Callable[[], None] | None = None,
    headers: Mapping[str, str] | None = None,
    grace_s: float = 30.0,
) -> EventSourceResponse:
    """A ``text/event-stream`` response of `events` (see the module docstring)."""
    return _EventStream(events, on_close, headers, grace_s)
