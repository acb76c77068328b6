"""The memory index never holds up opening the engine: loaded, built or absent, runs go on
and say where the index is; it is picked up once ready."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

from graphs.engine.engine import Engine
from graphs.seeding.memory import memory_path
from graphs.seeding.memory_build import BuildStatus, read_status, write_status
from graphs.seeding.warehouse import seed_if_missing
from stores.settings import Settings


async def test_without_an_index_runs_complete_and_say_so(settings: Settings) -> None:
    async with Engine(settings) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})
        assert result["status"] == "complete"
        assert result["memory_index"]["state"] == "absent"
        assert "sophia seed" in result["memory_index"]["message"]
        recall = await engine.invoke("memory_recall", {"query": "pricing"})
        assert recall["memories"] == [] and recall["memory_index"]["state"] == "absent"
        assert engine.stats()["memory"]["state"] == "absent"


async def test_a_snapshot_loads_in_the_background_and_then_serves(
    indexed_settings: Settings,
) -> None:
    async with Engine(indexed_settings) as engine:
        index = engine.resources.memory
        assert index is not None and index.status()["state"] in ("loading", "ready")
        assert await engine.memory_ready(60)
        assert index.status()["state"] == "ready" and index.status()["items"] > 0
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})
        assert "memory_index" not in result
        assert engine.stats()["memory"]["items"] > 0


async def test_a_build_in_progress_is_reported_then_picked_up(
    settings: Settings, indexed_data_dir: Path, tmp_path: Path
) -> None:
    """Another process is building (a live pid, progress in the status file): the run
    reports it, and when the snapshot is published the engine loads it."""
    data = tmp_path / "building"
    data.mkdir()
    shutil.copy(indexed_data_dir / "warehouse.duckdb", data / "warehouse.duckdb")
    now = 1.0
    write_status(data, BuildStatus(pid=os.getpid(), started=now, updated=now, done=40, total=100))
    building = settings.model_copy(update={"data_dir": data, "warehouse_url": None})
    async with Engine(building) as engine:
        for _ in range(600):
            if engine.resources.memory.status()["state"] == "building":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})
        assert result["memory_index"]["state"] == "building"
        assert result["memory_index"]["progress"] == 0.4
        assert "40%" in result["memory_index"]["message"]
        # the builder publishes its snapshot (copied here) and removes its status file
        await asyncio.to_thread(
            shutil.copytree, memory_path(indexed_data_dir), memory_path(data), dirs_exist_ok=True
        )
        (memory_path(data) / "BUILDING").unlink()
        assert await engine.memory_ready(60)
        assert "memory_index" not in await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})


async def test_a_failed_build_is_reported(settings: Settings, tmp_path: Path) -> None:
    data = tmp_path / "failed"
    write_status(data, BuildStatus(pid=1, started=1.0, updated=2.0, error="OSError: disk full"))
    failed = settings.model_copy(update={"data_dir": data})
    async with Engine(failed) as engine:
        for _ in range(600):
            if engine.resources.memory.status()["state"] == "failed":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        status = engine.resources.memory.status()  # type: ignore[union-attr]
        assert status["state"] == "failed" and "disk full" in status["error"]


async def test_the_first_run_builds_the_index_in_a_process_of_its_own(tmp_path: Path) -> None:
    """A fresh data dir: the warehouse is seeded, the index is built by a detached
    process that writes its progress, and an engine picks the index up when it is done."""
    data = tmp_path / "fresh"
    fresh = Settings(data_dir=data, seed_scale=0.05, redis_url=None, memory_build="background")
    lines: list[str] = []
    assert await seed_if_missing(fresh, progress=lines.append)
    assert any("in the background" in line for line in lines)
    build = await asyncio.to_thread(read_status, data)
    assert build is not None and build.pid > 0
    async with Engine(fresh) as engine:
        assert await engine.memory_ready(240), await asyncio.to_thread(
            (memory_path(data) / "build.log").read_text
        )
        assert engine.resources.memory.status()["items"] > 0  # type: ignore[union-attr]
    assert read_status(data) is None  # the builder removed its status file when done
    log = (memory_path(data) / "build.log").read_text()
    assert "indexed" in log, log
    assert not json.dumps(lines).count("Traceback")
