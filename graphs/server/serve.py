"""`serve`: the HTTP service under uvicorn, in one process or several workers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette

from graphs.seeding.warehouse import seed_if_missing
from stores.errors import ConfigurationError
from stores.settings import Settings

logger = logging.getLogger(__name__)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: Settings | None = None,
    *,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    **app_options: Any,
) -> None:
    """Serve the app with uvicorn until interrupted: one process, or `workers` processes.

    `app_options` go to `create_app` (limits, timeouts); the demo warehouse is seeded
    on first use unless ``auto_seed=False``. On SIGINT/SIGTERM uvicorn stops accepting
    connections, lets open requests finish (an open event stream gets the request
    timeout), then runs the lifespan shutdown, which waits for in-flight runs before
    closing the engine.

    With ``workers > 1`` uvicorn supervises that many processes sharing the socket, each
    with its own Engine (the DuckDB file is opened read-only so they can share it; Redis,
    when configured, is the cache they share). Workers read their settings from
    ``SOPHIA_*`` variables, so `settings` and `app_options` must be left out; the demo
    data is seeded here, once, before they start. ``/stats`` answers for the worker that
    took the request (its ``pid`` says which).
    """
    import uvicorn

    from graphs.server.app import create_app

    if workers < 1:
        raise ConfigurationError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        options = {"auto_seed": True, **app_options}
        uvicorn.run(
            create_app(settings or Settings(), **options),
            host=host,
            port=port,
            workers=1,
            log_level=log_level,
            access_log=access_log,
        )
        return
    if settings is not None or app_options:
        raise ConfigurationError(
            "with workers > 1 each worker reads its settings from SOPHIA_* variables; "
            "pass neither settings nor app options"
        )
    asyncio.run(seed_if_missing(Settings(), progress=lambda m: logger.warning("%s", m)))
    uvicorn.run(
        "graphs.server.serve:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )


def app_from_env() -> Starlette:
    """An app configured from ``SOPHIA_*`` variables (for ``uvicorn --factory``)."""
    from graphs.server.app import create_app

    return create_app(Settings(), auto_seed=True)
