"""The one event-stream writer, over raw ASGI: framing, and what happens however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Message

from graphs.server.sse import event_stream

SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": [], "asgi": {"version": "3.0"}}


class Events:
    """An event source that records whether it was closed, and the stream's on_close."""

    def __init__(self, count: int, *, hang: bool = False) -> None:
        self.count, self.hang = count, hang
        self.closed = False
        self.on_close_calls = 0

    async def source(self) -> AsyncIterator[tuple[str, Any]]:
        try:
            for i in range(self.count):
                yield "update", {"i": i, "name": "Zoë"}
            if self.hang:
                await asyncio.Event().wait()  # a run that never ends by itself
        finally:
            self.closed = True

    def on_close(self) -> None:
        self.on_close_calls += 1


async def _serve(events: Events, *, leave_after_bytes: int | None) -> bytes:
    body = bytearray()
    left = asyncio.Event()

    async def receive() -> Message:
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                left.set()
            elif leave_after_bytes is not None and len(body) >= leave_after_bytes:
                left.set()  # the client goes away mid-stream

    response = event_stream(events.source(), on_close=events.on_close)
    await asyncio.wait_for(response(SCOPE, receive, send), timeout=30)
    return bytes(body)


async def test_events_are_framed_as_json_and_on_close_runs_once() -> None:
    events = Events(3)
    body = await _serve(events, leave_after_bytes=None)
    assert body == b"".join(
        f'event: update\ndata: {{"i":{i},"name":"Zoë"}}\n\n'.encode() for i in range(3)
    )
    assert events.closed and events.on_close_calls == 1


async def test_a_client_that_leaves_closes_the_events_and_runs_on_close_once() -> None:
    events = Events(1, hang=True)
    body = await _serve(events, leave_after_bytes=1)
    assert body.startswith(b"event: update\n")
    assert events.closed  # the run behind the stream was stopped, not left hanging
    assert events.on_close_calls == 1


async def test_a_stream_that_never_started_still_closes_and_releases() -> None:
    events = Events(1)
    response = event_stream(events.source(), on_close=events.on_close)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise OSError("the connection is gone")

    try:
        await response(SCOPE, receive, send)
    except OSError:
        pass
    assert events.on_close_calls == 1
