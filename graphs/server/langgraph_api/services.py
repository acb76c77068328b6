"""What the LangGraph API runs beside its routes, for the app's lifetime: the store
behind ``/store`` and the cron scheduler.

    async with sdk_services(app):     # in the app's lifespan, once its engine is open
        ...

The store is ``app.state.sdk_store`` (`graphs.server.langgraph_api.api_store`), the
scheduler ``app.state.cron_scheduler`` (`graphs.server.langgraph_api.cron_scheduler`),
which starts runs through the app's `RunManager`. Both stop when the block ends: the
scheduler first (no run starts during shutdown), then the store (saved).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from graphs.engine.errors import EngineNotOpenError
from graphs.server.langgraph_api.api_store import ApiStore, open_api_store
from graphs.server.langgraph_api.cron_scheduler import POLL_S, CronScheduler, scheduling
from graphs.server.langgraph_api.endpoint import app_runs


@contextlib.asynccontextmanager
async def sdk_services(app: Any, *, cron_poll_s: float = POLL_S) -> AsyncIterator[None]:
    """Open the store and run the cron scheduler of `app` meanwhile (neither when the
    app's engine is not open: the store routes answer 503 then)."""
    engine = app.state.engine
    try:
        cache = engine.resources.cache
    except EngineNotOpenError:
        app.state.sdk_store = ApiStore(None, "the engine is not open")
        yield
        return
    async with open_api_store(engine.settings, cache) as store:
        app.state.sdk_store = store
        scheduler = CronScheduler(engine, lambda: app_runs(app), poll_s=cron_poll_s)
        app.state.cron_scheduler = scheduler
        async with scheduling(scheduler):
            yield
