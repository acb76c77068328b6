"""Fixtures for engine tests: a small seeded DuckDB warehouse in a temporary data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from stores import demo_data
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
    )
