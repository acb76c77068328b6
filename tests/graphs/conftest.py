"""Fixtures for engine tests: a small seeded DuckDB warehouse in a temporary data dir, and
langgraph.json's process-wide engine configured (through SOPHIA_*) to use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graphs import langgraph_entry
from stores.demo import data as demo_data
from stores.settings import Settings


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with the SMALL demo dataset (shared, opened read-only by engines)."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    demo_data.write_duckdb(path, demo_data.generate(demo_data.SMALL))
    return path


@pytest.fixture
def settings(tmp_path: Path, small_warehouse: Path) -> Settings:
    """Settings for an engine on the small warehouse, with its own data dir and no Redis."""
    return Settings(
        data_dir=tmp_path / "data",
        warehouse_url=f"duckdb:///{small_warehouse}",
        redis_url=None,
        node_timeout_s=5.0,
        # a budget that nests in 5 s: 2 attempts x 2.2 s + a 0.5 s backoff < 5 s
        query_timeout_s=2.0,
        warehouse_attempt_timeout_s=2.2,
    )


@pytest.fixture
async def shared_engine(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[langgraph_entry.SharedEngine]:
    """A fresh `langgraph_entry.SHARED` whose engine reads SOPHIA_* pointing at `settings`
    (no Redis); the test may change the environment before first use. Closed after."""
    monkeypatch.setenv("SOPHIA_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SOPHIA_WAREHOUSE_URL", settings.resolved_warehouse_url)
    monkeypatch.delenv("SOPHIA_REDIS_URL", raising=False)
    shared = langgraph_entry.SharedEngine()
    monkeypatch.setattr(langgraph_entry, "SHARED", shared)
    try:
        yield shared
    finally:
        await shared.close()


@pytest.fixture(scope="session")
def indexed_data_dir(tmp_path_factory: pytest.TempPathFactory, small_warehouse: Path) -> Path:
    """A data dir holding the small warehouse and its memory index (shared; read only)."""
    import asyncio
    import shutil

    from graphs.seeding.memory import seed_memory

    data = tmp_path_factory.mktemp("indexed")
    shutil.copy(small_warehouse, data / "warehouse.duckdb")
    asyncio.run(seed_memory(Settings(data_dir=data, redis_url=None)))
    return data


@pytest.fixture
def indexed_settings(settings: Settings, indexed_data_dir: Path) -> Settings:
    """`settings` on the data dir with a memory index (the warehouse there too)."""
    return settings.model_copy(
        update={"data_dir": indexed_data_dir, "warehouse_url": None, "trace_file": False}
    )
