"""`serve`: the HTTP service under uvicorn, in one process or several workers.

Before uvicorn starts, `serve` decides how callers authenticate (`auth_preflight`) and
says so in its first log line; it refuses to serve a non-loopback address without
authentication unless ``insecure=True``. uvicorn runs with the service's connection
limits: at most ``SOPHIA_MAX_CONNECTIONS`` connections and requests at once (503 beyond),
idle keep-alive connections closed after `KEEP_ALIVE_S`, request headers due within
``SOPHIA_HEADER_TIMEOUT_S`` (`graphs.server.protocol`), bodies within
``SOPHIA_BODY_TIMEOUT_S``. Anything beyond (TLS, per-IP rate limits, request-line size)
belongs to the reverse proxy in front (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
from typing import Any

from starlette.applications import Starlette

from graphs.seeding.warehouse import seed_if_missing
from graphs.server.security import SecuritySettings
from stores.errors import ConfigurationError
from stores.settings import Settings

logger = logging.getLogger(__name__)

KEEP_ALIVE_S = 5
DEFAULT_GRACE_S = 30.0
# What `serve` tells the worker processes it starts (each reads its settings itself).
_ENV_HOST, _ENV_INSECURE, _ENV_GRACE = (
    "SOPHIA_SERVE_HOST", "SOPHIA_INSECURE", "SOPHIA_SHUTDOWN_GRACE_S",
)  # fmt: skip


async def _describe_auth(
    settings: Settings, security: SecuritySettings, host: str, insecure: bool
) -> str:
    from graphs.durable.store import open_durable
    from graphs.server.auth import Authenticator
    from graphs.server.jwt_auth import JwtVerifier
    from graphs.server.security import resolve_policy

    policy = resolve_policy(security, host, insecure)
    jwt = await asyncio.to_thread(JwtVerifier.load, security)
    resolved = await asyncio.to_thread(settings.with_absolute_paths)
    async with open_durable(resolved) as durable:
        await durable.ensure_ready()
        auth = Authenticator(durable.keys, jwt, mode=security.auth,
                             may_run_open=policy.may_run_open, bind_host=host)  # fmt: skip
        await auth.start()
        return auth.describe()


def auth_preflight(
    settings: Settings, security: SecuritySettings, host: str, insecure: bool
) -> str:
    """How the service on `host` will authenticate callers (logged as the first line);
    ConfigurationError when it would serve beyond loopback without authentication."""
    line = asyncio.run(_describe_auth(settings, security, host, insecure))
    logger.warning("%s", line)
    return line


def uvicorn_limits(security: SecuritySettings, shutdown_grace_s: float) -> dict[str, Any]:
    """The uvicorn settings that bound connections: the cap (``limit_concurrency``), the
    keep-alive and header timeouts, and how long shutdown waits for open requests."""
    from graphs.server.protocol import HeaderTimeoutProtocol

    return {
        "limit_concurrency": security.max_connections,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "timeout_graceful_shutdown": math.ceil(shutdown_grace_s),
        "http": functools.partial(
            HeaderTimeoutProtocol, header_timeout_s=security.header_timeout_s
        ),
    }


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: Settings | None = None,
    *,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    insecure: bool = False,
    shutdown_grace_s: float = DEFAULT_GRACE_S,
    security: SecuritySettings | None = None,
    **app_options: Any,
) -> None:
    """Serve the app with uvicorn until interrupted: one process, or `workers` processes.

    `app_options` go to `create_app` (limits, timeouts); the demo warehouse is seeded
    on first use unless ``auto_seed=False``. On SIGINT/SIGTERM uvicorn stops accepting
    connections and lets open requests finish (at most `shutdown_grace_s`; an open event
    stream gets the request timeout), then the lifespan shutdown lets runs in flight,
    background LangGraph API runs included, finish within `shutdown_grace_s`, stops
    those left (to resume on the next start) and closes the engine.

    With ``workers > 1`` uvicorn supervises that many processes sharing the socket, each
    with its own Engine (the DuckDB file is opened read-only so they can share it; Redis,
    when configured, is the cache they share). Workers read their settings from
    ``SOPHIA_*`` variables (this function sets ``SOPHIA_SERVE_HOST``, ``SOPHIA_INSECURE``
    and ``SOPHIA_SHUTDOWN_GRACE_S`` for them), so `settings` and `app_options` must be
    left out; the demo data is seeded here, once, before they start. ``/stats`` answers
    for the worker that took the request (its ``pid`` says which).
    """
    import uvicorn

    from graphs.server.app import create_app

    if workers < 1:
        raise ConfigurationError(f"workers must be >= 1, got {workers}")
    security = security or SecuritySettings()
    auth_preflight(settings or Settings(), security, host, insecure)
    limits = uvicorn_limits(security, shutdown_grace_s)
    if workers == 1:
        options = {"auto_seed": True, "shutdown_grace_s": shutdown_grace_s, **app_options}
        app = create_app(settings or Settings(), security=security, host=host,
                         insecure=insecure, **options)  # fmt: skip
        uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level,
                    access_log=access_log, **limits)  # fmt: skip
        return
    if settings is not None or app_options:
        raise ConfigurationError(
            "with workers > 1 each worker reads its settings from SOPHIA_* variables; "
            "pass neither settings nor app options"
        )
    asyncio.run(seed_if_missing(Settings(), progress=lambda m: logger.warning("%s", m)))
    # The workers are new processes: what they need to know travels in their environment.
    os.environ.update({_ENV_HOST: host, _ENV_INSECURE: "1" if insecure else "0",
                       _ENV_GRACE: str(shutdown_grace_s)})  # fmt: skip
    uvicorn.run(
        "graphs.server.serve:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_worker_healthcheck=security.worker_start_timeout_s,
        **limits,
    )


def app_from_env() -> Starlette:
    """An app configured from ``SOPHIA_*`` variables (for ``uvicorn --factory``)."""
    from graphs.server.app import create_app

    settings, security = Settings(), SecuritySettings()
    return create_app(
        settings,
        auto_seed=True,
        host=settings.serve_host,
        insecure=security.insecure,
        shutdown_grace_s=security.shutdown_grace_s,
    )
