"""`sophia seed`: the demo warehouse (and, when the memory store is there, its index)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from stores.demo import data as demo_data
from stores.errors import ConfigurationError
from stores.settings import Settings
from stores.urls import redact_url
from stores.warehouse.backends.url import parse_warehouse_url


def warehouse_path(settings: Settings) -> Path:
    """The DuckDB file the settings point at; ConfigurationError for other backends."""
    url = settings.resolved_warehouse_url
    parsed = parse_warehouse_url(url)
    if parsed.scheme != "duckdb" or parsed.path == ":memory:":
        raise ConfigurationError(
            "`sophia seed` writes the embedded DuckDB warehouse file; SOPHIA_WAREHOUSE_URL points "
            f"at {redact_url(url)!r}. Use `sophia emulator` for a local Snowflake with the demo "
            "data."
        )
    return Path(parsed.path)


async def seed_warehouse(
    settings: Settings,
    *,
    sizes: demo_data.DemoSizes | None = None,
    seed: int = demo_data.DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Generate the demo data and write it to the embedded warehouse, atomically.

    Returns the row count per table. Runs the CPU-bound work in a thread so the event
    loop stays responsive.
    """
    say = progress or (lambda _m: None)
    path = warehouse_path(settings)
    chosen = sizes or demo_data.DemoSizes().scaled(settings.seed_scale)
    started = time.perf_counter()
    tables = await asyncio.to_thread(demo_data.generate, chosen, seed)
    counts = await asyncio.to_thread(demo_data.write_duckdb, path, tables)
    say(f"Seeded {sum(counts.values()):,} rows into {path} in {time.perf_counter() - started:.1f}s")
    return counts


async def seed_all(settings: Settings, *, progress: Callable[[str], None] | None = None) -> None:
    """Seed everything the demo needs: the warehouse, then the memory index."""
    await seed_warehouse(settings, progress=progress)
    from graphs.seeding.memory import seed_memory

    await seed_memory(settings, progress=progress)


async def seed_if_missing(
    settings: Settings, *, progress: Callable[[str], None] | None = None
) -> bool:
    """Seed the demo data when the settings point at an embedded warehouse file that is
    not there yet; True if it seeded. Other warehouses (Snowflake, ``:memory:``) are left
    alone."""
    settings = await asyncio.to_thread(settings.with_absolute_paths)
    parsed = parse_warehouse_url(settings.resolved_warehouse_url)
    if parsed.scheme != "duckdb" or parsed.path == ":memory:":
        return False
    path = Path(parsed.path)
    if await asyncio.to_thread(path.exists):
        return False
    if progress is not None:
        progress(f"No warehouse at {path}: seeding the demo data (first run only)...")
    await seed_warehouse(settings, progress=progress)
    if settings.memory_build == "inline":
        from graphs.seeding.memory import seed_memory

        await seed_memory(settings, progress=progress)
        return True
    from graphs.seeding.memory_build import start_background_build

    # The index takes tens of seconds and no review needs it to start: build it in a
    # process of its own while this run goes on (its memory branch says "building").
    pid = await asyncio.to_thread(
        start_background_build, settings.data_dir, settings.resolved_warehouse_url
    )
    if progress is not None:
        progress(
            f"Building the memory index in the background (process {pid}); reviews run "
            "meanwhile without recalled memories. `sophia info` shows its progress."
        )
    return True
