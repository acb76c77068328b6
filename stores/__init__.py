"""The engine's shared resources: warehouse, cache, memory store, resilience.

Public surface (imported on first use, so that ``import stores.errors`` stays cheap):

- `Warehouse` — pooled DuckDB/Snowflake store with batch loading and streaming;
- `WarehouseEmulator` — a local Snowflake (fakesnow) with configurable latency;
- `TieredCache` — bounded L1 + Redis L2 on aiocache;
- `MemoryStore` — a LangGraph `BaseStore` with HNSW vector search;
- `HashingEmbeddings`, `CachedEmbeddings` — embedders;
- `CircuitBreaker`, `Guard`, `ResilienceRegistry` — breakers, retries, timeouts;
- `Settings`, and the errors rooted at `SophiaError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stores.errors import SophiaError
from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from stores.cache.tiered import TieredCache
    from stores.demo.emulator import WarehouseEmulator
    from stores.memory.embeddings import CachedEmbeddings, HashingEmbeddings
    from stores.memory.store import MemoryStore
    from stores.resilience.breaker import CircuitBreaker
    from stores.resilience.guards import Guard, ResilienceRegistry
    from stores.settings import Settings
    from stores.warehouse.warehouse import Warehouse

_LAZY = {
    "Warehouse": "stores.warehouse.warehouse",
    "WarehouseEmulator": "stores.demo.emulator",
    "TieredCache": "stores.cache.tiered",
    "MemoryStore": "stores.memory.store",
    "HashingEmbeddings": "stores.memory.embeddings",
    "CachedEmbeddings": "stores.memory.embeddings",
    "CircuitBreaker": "stores.resilience.breaker",
    "Guard": "stores.resilience.guards",
    "ResilienceRegistry": "stores.resilience.guards",
    "Settings": "stores.settings",  # pydantic-settings: a third of a second to import
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "CachedEmbeddings",
    "CircuitBreaker",
    "Guard",
    "HashingEmbeddings",
    "MemoryStore",
    "ResilienceRegistry",
    "Settings",
    "SophiaError",
    "TieredCache",
    "Warehouse",
    "WarehouseEmulator",
]
