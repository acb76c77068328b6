"""Run events in Redis streams: what a worker's run streams, for every API server.

    events = RunEvents(redis_client)
    await events.publish(run_id, "values", {...})        # the worker, event by event
    await events.end(run_id, {"status": "complete", ...}) # the run ended (last entry)
    # any API server follows runs through its `graphs.workers.event_hub.EventHub`

One Redis stream per run (``sophia:run:<run_id>:events``). Entries are appended in order
by whichever worker executes the run (a run resumed on another worker appends after the
first one's entries), so every follower sees the same events in the same order, and the
n-th event has number n on every API server: a client that reconnects to another server
resumes after the ``Last-Event-ID`` it saw. The data is encoded once, by the worker, with
the service's JSON encoder (`graphs.server.encoding`), so a follower sends what the worker
would have sent. A stream expires `KEEP_S` after its last entry.
"""

from __future__ import annotations

import json
from typing import Any

from graphs.server.encoding import dumps

IDLE = ""
"""What a follower gets when no event came for a while (it may check the run's record)."""
END = "__end__"
"""The last entry of a run's stream: its outcome (`end`)."""
KEEP_S = 3600
"""Seconds a run's events stay after its last one (for late joins and reconnects)."""
MAX_EVENTS = 100_000
"""Most entries one run's stream keeps (a bound on memory, far above a run's events)."""
BLOCK_MS = 2000
"""How long a follower's read waits for new entries before it looks again."""


def redis_client(url: str) -> Any:
    """A Redis client for run events: its socket timeout is above a follower's blocking
    read (redis-py's default of 5 s would cut every idle `BLOCK_MS` read short)."""
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url, socket_timeout=BLOCK_MS / 1000 + 10,
                                   socket_connect_timeout=5)  # fmt: skip


def stream_key(run_id: str) -> str:
    """The Redis key of `run_id`'s events."""
    return f"sophia:run:{run_id}:events"


class RunEvents:
    """Publishing and following runs' events through one Redis client (owned by the
    caller, who closes it)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def publish(self, run_id: str, event: str, data: Any) -> None:
        """Append one event of `run_id` (data encoded as the service's JSON)."""
        key = stream_key(run_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": event, "d": dumps(data)}, maxlen=MAX_EVENTS, approximate=True)
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    async def end(self, run_id: str, outcome: dict[str, Any]) -> None:
        """Append the run's outcome: its last entry (followers stop after it)."""
        await self.publish(run_id, END, outcome)

    async def exists(self, run_id: str) -> bool:
        """Whether `run_id` has events kept (none yet, or expired: False)."""
        return bool(await self.redis.exists(stream_key(run_id)))


def decode(fields: dict[Any, Any]) -> tuple[str, Any]:
    """An entry's ``(event, data)``."""

    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    named = {text(k): text(v) for k, v in fields.items()}
    return named["e"], json.loads(named["d"])
