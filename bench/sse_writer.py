"""The service's event-stream writer: a hand-written StreamingResponse vs sse-starlette.

Both sides stream the same N node updates (a deal-review-sized payload) through one ASGI
call each, in-process, with a `send` that only counts bytes, so the figure is the
writer's own cost per event (framing, JSON, ASGI messages), not the network's. The
naive side is the writer the service had before (`StreamingResponse` of f-string
frames); the engine side is `graphs.server.sse.event_stream` (sse-starlette: keep-alive
pings, disconnect detection, shutdown grace). Rounds alternate so that noise on the
shared machine hits both sides alike; each side's fastest round is reported.

    uv run python -m bench.sse_writer [--quick]
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from bench.common import BenchRow, main
from graphs.server.sse import event_stream

PAYLOADS: dict[str, dict[str, Any]] = {
    "small": {"node": "hubspot", "data": {"ok": True, "rows": 3}, "run_id": "0" * 32},
    "deal-sized": {
        "node": "sales_analysis",
        "data": {
            "deals": {
                f"D-{i:05d}": {
                    "stage": "negotiation",
                    "amount": 125_000.5,
                    "risk": 0.42,
                    "signals": ["late reply", "budget cut", "new champion"],
                }
                for i in range(20)
            }
        },
        "run_id": "0" * 32,
        "trace_id": "f" * 32,
    },
}


def _old_frame(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str, ensure_ascii=False)}\n\n"


def _old(events: AsyncIterator[tuple[str, Any]]) -> Response:
    async def body() -> AsyncIterator[str]:
        async for event, data in events:
            yield _old_frame(event, data)

    return StreamingResponse(body(), media_type="text/event-stream")


def _new(events: AsyncIterator[tuple[str, Any]]) -> Response:
    return event_stream(events)


async def _events(n: int, payload: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
    for _ in range(n):
        yield "update", payload


async def _stream_once(make: Callable[..., Response], n: int, payload: dict[str, Any]) -> float:
    """Seconds to send `n` events through one response; checks every event arrived."""
    done = asyncio.Event()
    sent = {"bytes": 0, "events": 0}

    async def receive() -> Message:
        await done.wait()  # the client stays until the body is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            sent["bytes"] += len(body)
            sent["events"] += body.count(b"event: update")
            if not message.get("more_body"):
                done.set()

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [],
             "asgi": {"version": "3.0"}}  # fmt: skip
    started = time.perf_counter()
    await make(_events(n, payload))(scope, receive, send)
    elapsed = time.perf_counter() - started
    if sent["events"] != n:
        raise AssertionError(f"{sent['events']} of {n} events arrived")
    return elapsed


async def _side_by_side(
    n: int, streams: int, rounds: int, payload: dict[str, Any]
) -> tuple[float, float]:
    """Microseconds per stream of `n` events, the fastest round of each (a busy shared
    machine only ever adds time): (old writer, new writer)."""
    old: list[float] = []
    new: list[float] = []
    await _stream_once(_old, 10, payload)  # warm both paths
    await _stream_once(_new, 10, payload)
    for i in range(rounds):
        order = ((_old, old), (_new, new)) if i % 2 == 0 else ((_new, new), (_old, old))
        for make, times in order:
            total = 0.0
            for _ in range(streams):
                total += await _stream_once(make, n, payload)
            times.append(total / streams * 1e6)
    return min(old), min(new)


async def run(quick: bool) -> list[BenchRow]:
    """Old writer (naive column) vs sse-starlette (engine column): the cost per event of a
    long stream, and the whole cost of a deal review's stream (~10 events)."""
    long_n, rounds = (2_000, 4) if quick else (10_000, 10)
    rows = []
    for name, payload in PAYLOADS.items():
        old, new = await _side_by_side(long_n, 1, rounds, payload)
        rows.append(
            BenchRow(
                f"{name} events, per event of a {long_n}-event stream",
                old / long_n,
                new / long_n,
                unit="µs/event",
                target="no more than 10 µs over the old writer",
                met=(new - old) / long_n <= 10,
            )
        )
    old, new = await _side_by_side(10, 50 if quick else 500, rounds, PAYLOADS["deal-sized"])
    rows.append(
        BenchRow(
            "a 10-event stream of deal-sized events, whole response",
            old,
            new,
            unit="µs/stream",
            target="at most 1 ms over the old writer (1% of a ~100 ms run)",
            met=new - old <= 1000,
        )
    )
    return rows


if __name__ == "__main__":
    main(run, "Event-stream writer: hand-written vs sse-starlette")
