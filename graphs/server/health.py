"""Readiness checks of the engine's dependencies: warehouse, Redis and the memory store.

Each check is bounded by a timeout and reported by name as ``{"ok": bool, ...}``. The
warehouse and the memory store are required; Redis is not (the cache serves L1 alone
when it is down), so a Redis failure makes the service ``degraded``, not ``unready``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphs.engine.engine import Engine

CHECK_TIMEOUT_S = 2.0


async def _timed(check: Callable[[], Awaitable[dict[str, Any]]], required: bool) -> dict[str, Any]:
    started = time.monotonic()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            result = await check()
    except TimeoutError:
        result = {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_S:g}s"}
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result.setdefault("latency_ms", round((time.monotonic() - started) * 1000, 3))
    result["required"] = required
    return result


async def _warehouse(engine: Engine) -> dict[str, Any]:
    health = await engine.resources.warehouse.health()
    return {
        "ok": bool(health.get("ok")),
        "backend": health.get("backend"),
        "error": health.get("error"),
        "latency_ms": health.get("latency_ms"),
    }


async def _redis(engine: Engine) -> dict[str, Any]:
    url = engine.settings.redis_url
    if not url:
        return {"ok": True, "enabled": False, "detail": "no SOPHIA_REDIS_URL: L1 cache only"}
    cache = engine.resources.cache
    ping = getattr(cache, "ping", None)
    if ping is not None:
        answer = await ping()
        return {"ok": bool(answer), "enabled": True}
    # The cache has no ping of its own: ask Redis directly on a short-lived connection.
    import redis.asyncio as aioredis

    client = aioredis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        answer = await client.ping()
    finally:
        await client.aclose()
    return {"ok": bool(answer), "enabled": True}


async def _memory(engine: Engine) -> dict[str, Any]:
    index = engine.resources.memory
    if index is None:
        return {"ok": False, "error": "the engine has no memory store"}
    store = index.store
    if store is None:  # loading or being built: runs work, recall waits for it
        return {"ok": False, **index.status()}
    await store.alist_namespaces(limit=1)
    return {"ok": True, "items": len(store)}


async def readiness(engine: Engine) -> dict[str, Any]:
    """``{"status": "ready" | "degraded" | "unready", "checks": {name: {...}}}``.

    The checks run concurrently, each within `CHECK_TIMEOUT_S`.
    """
    names = ("warehouse", "redis", "memory_store")
    results = await asyncio.gather(
        _timed(lambda: _warehouse(engine), required=True),
        _timed(lambda: _redis(engine), required=False),
        # Not required: runs complete while the index loads or is built (the memory
        # branch says so), so the service is "degraded", not unready, meanwhile.
        _timed(lambda: _memory(engine), required=False),
    )
    checks = dict(zip(names, results, strict=True))
    if any(c["required"] and not c["ok"] for c in checks.values()):
        status = "unready"
    elif all(c["ok"] for c in checks.values()):
        status = "ready"
    else:
        status = "degraded"
    return {"status": status, "checks": checks}
