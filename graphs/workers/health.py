"""A worker's own small HTTP endpoint: ``/healthz`` and ``/metrics``, for probes and
Prometheus.

    async with health_endpoint(worker, host, port):   # port 0: none
        ...

Served by uvicorn in the worker's event loop; it leaves signals to the worker (which stops
on SIGTERM and SIGINT), so the endpoint stops when the worker does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import telemetry


def health_app(status: Any) -> Starlette:
    """``/healthz`` (200 with `status()`, a dict) and ``/metrics`` (Prometheus text)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse(status())

    async def metrics(request: Request) -> Response:
        return Response(telemetry.prometheus_text(), media_type=telemetry.PROMETHEUS_CONTENT_TYPE)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])


@contextlib.asynccontextmanager
async def health_endpoint(status: Any, host: str, port: int) -> AsyncIterator[None]:
    """Serve `health_app(status)` on `host`:`port` for the block (nothing when port is 0)."""
    if not port:
        yield
        return
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the worker owns the signals
            yield

    server = _Server(uvicorn.Config(health_app(status), host=host, port=port,
                                    log_level="warning", lifespan="off"))  # fmt: skip
    task = asyncio.create_task(server.serve(), name="worker-health")
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)
