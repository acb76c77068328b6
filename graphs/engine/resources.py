"""Opening an engine's shared resources, in order, onto the engine's exit stack.

Tracing (only when asked), guards, the tiered cache, the warehouse pool, the memory store
and the checkpoint store; each is closed in reverse order when the stack unwinds. Nothing
here installs process-wide state unless the caller asks (`configure_telemetry`,
`freeze_gc`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from opentelemetry import context as otel_context
from opentelemetry import trace

import telemetry
from graphs.durable.store import Durable, open_durable, open_durable_with
from graphs.engine.memory_index import MemoryIndex
from graphs.seeding.memory import open_memory_store
from graphs.seeding.warehouse import seed_if_missing
from nodes.context import Resources
from nodes.risk_detector import load_detector
from stores.cache.tiered import TieredCache
from stores.errors import ConfigurationError
from stores.llm.select import open_models
from stores.resilience.guards import ResilienceRegistry
from stores.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
from stores.warehouse.backends.url import parse_warehouse_url
from stores.warehouse.warehouse import Warehouse

logger = logging.getLogger(__name__)


@dataclass
class OpenOptions:
    """How an engine opens: what it may change in the process, and its optional parts."""

    llm: BaseChatModel | None = None
    auto_seed: bool = False
    on_seed: Callable[[str], None] | None = None
    configure_telemetry: bool = False
    freeze_gc: bool = False
    checkpointer: BaseCheckpointSaver[Any] | None = None


@dataclass
class Opened:
    """What `open_resources` made: the nodes' runtime context, the store, the guards."""

    settings: Settings
    resources: Resources
    durable: Durable
    guards: ResilienceRegistry
    telemetry: telemetry.Telemetry | None


async def open_resources(
    stack: contextlib.AsyncExitStack, settings: Settings, options: OpenOptions
) -> Opened:
    """Open every resource onto `stack` (closed, in reverse, when it unwinds)."""
    # Filesystem calls go to a thread: the engine opens inside servers' event loops.
    s = await asyncio.to_thread(settings.with_absolute_paths)
    await asyncio.to_thread(s.data_dir.mkdir, parents=True, exist_ok=True)
    tel: telemetry.Telemetry | None = None
    if options.configure_telemetry:
        # Off the loop: configuring replaces (and flushes) the last configuration, and
        # shutting down flushes the span file; both write files (`langgraph dev` refuses
        # blocking calls on its loop and the spans were lost).
        file_path = (s.data_dir / "traces.jsonl") if s.trace_file else None
        tel = await asyncio.to_thread(telemetry.configure, file_path=file_path)
        stack.push_async_callback(asyncio.to_thread, tel.shutdown)
    # Start-up work (pool warm-up, catalogue, index load) is one trace of its own.
    with trace.get_tracer("sophia.engine").start_as_current_span(
        "engine.open", context=otel_context.Context()
    ):
        return await _open_parts(stack, s, options, tel)


async def _open_parts(
    stack: contextlib.AsyncExitStack,
    s: Settings,
    options: OpenOptions,
    tel: telemetry.Telemetry | None,
) -> Opened:
    guards = ResilienceRegistry.from_settings(s)
    url = await warehouse_url(s, options)
    cache = await stack.enter_async_context(
        TieredCache(
            redis_url=s.redis_url,
            l1_max_entries=s.l1_max_entries,
            l1_max_bytes=s.l1_max_bytes,
            guard=guards.guard("redis") if s.redis_url else None,
            # processes sharing Redis load each missing key once (0: off)
            lock_ttl_s=(s.cache_load_lock_s or None) if s.redis_url else None,
        )
    )
    warehouse = await stack.enter_async_context(
        Warehouse.open(
            url,
            min_size=s.pool_min_size,
            max_size=s.pool_max_size,
            acquire_timeout_s=s.pool_acquire_timeout_s,
            query_timeout_s=s.query_timeout_s,
            cache=cache,
            guard=guards.guard("warehouse"),
            statement_spans=s.trace_statements == "spans",
        )
    )
    # The models SOPHIA_LLM / SOPHIA_EMBEDDINGS name (Cortex) and the risk taxonomy.
    models = open_models(s, warehouse, cache, guards)
    risks = await asyncio.to_thread(load_detector, s.risk_taxonomy)
    # The index loads (or is built elsewhere) in the background: opening never waits.
    memory = await stack.enter_async_context(
        MemoryIndex(
            s.data_dir,
            lambda: open_memory_store(s.data_dir, cache, models.embeddings, models.embedding_dims),
            on_ready=freeze_gc if options.freeze_gc else None,
        )
    )
    resources = Resources(
        warehouse=warehouse,
        settings=s,
        cache=cache,
        memory=memory,
        llm=options.llm or models.llm,
        guards=guards,
        risks=risks,
    )
    if options.checkpointer is not None:
        durable_cm = open_durable_with(options.checkpointer)
    else:
        durable_cm = open_durable(s)
    durable = await stack.enter_async_context(durable_cm)
    return Opened(s, resources, durable, guards, tel)


def freeze_gc() -> None:
    """Move every object alive now out of the collector's full passes (process-wide).

    The memory index is ~1M long-lived objects; full collections walking them paused runs
    for 100+ ms now and then. Frozen objects are never collected, so a server calls this
    once, right after opening its engine, on a clean heap.
    """
    gc.collect()
    gc.freeze()


async def warehouse_url(s: Settings, options: OpenOptions) -> str:
    """The warehouse URL; the default embedded file is seeded first when asked to."""
    url = s.resolved_warehouse_url
    parsed = parse_warehouse_url(url)
    if parsed.scheme != "duckdb" or parsed.path == ":memory:":
        return url
    if options.auto_seed:
        on_seed = options.on_seed or (lambda message: logger.info("%s", message))
        await seed_if_missing(s, progress=on_seed)
    elif not await asyncio.to_thread(Path(parsed.path).exists):
        raise ConfigurationError(
            f"the warehouse {parsed.path} does not exist; run `sophia seed` to create the "
            "demo warehouse, or set SOPHIA_WAREHOUSE_URL"
        )
    # The engine only reads; read-only lets several processes share the file.
    return url if "?" in url else f"{url}?read_only=true"
