"""`sophia run --memories` waits for the memory index, so a one-shot review recalls."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from graphs.seeding.memory import seed_memory
from stores.demo import data as demo_data
from stores.settings import Settings
from tests.graphs.cli.conftest import Sophia

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the SMALL demo warehouse and its memory index."""
    data = tmp_path_factory.mktemp("memories-cli")
    demo_data.write_duckdb(data / "warehouse.duckdb", demo_data.generate(demo_data.SMALL))
    asyncio.run(seed_memory(Settings(data_dir=data, redis_url=None)))
    return data


def test_memories_waits_for_the_index_and_recalls(sophia: Sophia, indexed_dir: Path) -> None:
    done = sophia("run", "deal_review", "--memories", "--json",
                  env={"SOPHIA_DATA_DIR": str(indexed_dir)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result.get("memory_index", {"state": "ready"})["state"] == "ready"
    assert any(deal.get("memories") for deal in result["deals"].values()), result["deals"]


def test_memories_is_in_the_help(sophia: Sophia) -> None:
    done = sophia("run", "--help")
    assert "--memories" in done.stdout and "index" in done.stdout
