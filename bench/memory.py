"""Peak memory: load everything (old platform) vs stream / batch (engine).

Two jobs over the demo data in the embedded DuckDB warehouse (the default backend):

1. talk statistics over every Gong transcript segment: the naive side fetches the whole
   table into memory and then aggregates (the old `load_full_dataset`); the engine side
   aggregates while `Warehouse.stream` yields batches of 5,000 rows;
2. embedding every transcript segment: the naive side embeds all texts in one call and
   keeps the vectors; the engine side embeds batches of 1,024 and hands each batch on
   (here: folds it into a running centroid, as an index build would consume it).

Each side runs in a fresh process so that its peak RSS is its own; tracemalloc gives
the peak of Python allocations too.

    uv run python -m bench.memory [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import resource
import tempfile
import tracemalloc
from collections import Counter
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench.common import BenchRow, main

SQL = "SELECT call_id, role, text FROM gong_transcripts"


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss it starts anew at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _stats_whole(url: str) -> int:
    from stores.warehouse.warehouse import Warehouse

    async with Warehouse.open(url) as wh:
        rows = await wh.query(SQL)
    words: Counter[str] = Counter()
    for r in rows:
        words[r["role"]] += len(r["text"].split())
    return sum(words.values())


async def _stats_streamed(url: str) -> int:
    from stores.warehouse.warehouse import Warehouse

    words: Counter[str] = Counter()
    async with Warehouse.open(url) as wh:
        batches = cast(AsyncGenerator[list[dict[str, Any]], None], wh.stream(SQL, (), 5_000))
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for r in batch:
                    words[r["role"]] += len(r["text"].split())
    return sum(words.values())


EMBED_TEXTS = 40_000  # the naive side holds ~50 KiB per text as Python floats: cap it


async def _texts(url: str) -> list[str]:
    from stores.warehouse.warehouse import Warehouse

    async with Warehouse.open(url) as wh:
        rows = await wh.query(f"{SQL} ORDER BY call_id, role LIMIT ?", (EMBED_TEXTS,))
    return [f"{r['call_id']} {r['text']}" for r in rows]


async def _embed_whole(url: str) -> int:
    from stores.memory.embeddings import HashingEmbeddings

    texts = await _texts(url)
    vectors = HashingEmbeddings(384).embed_documents(texts)
    return len(vectors)


async def _embed_batched(url: str) -> int:
    from stores.memory.embeddings import HashingEmbeddings

    texts = await _texts(url)
    embedder = HashingEmbeddings(384)
    centroid = np.zeros(384, dtype=np.float64)
    for start in range(0, len(texts), 1024):
        batch = embedder.embed_array(texts[start : start + 1024])
        centroid += batch.sum(axis=0)
    return len(texts)


async def _warm(url: str) -> None:
    from stores.warehouse.warehouse import Warehouse

    async with Warehouse.open(url) as wh:
        await wh.query("SELECT 1 AS one")


JOBS = {
    "whole": _stats_whole,
    "streamed": _stats_streamed,
    "embed_whole": _embed_whole,
    "embed_batched": _embed_batched,
}


def _child(job: str, url: str, out: Any) -> None:
    # Import everything first so that neither measure counts module loading.
    import stores.memory.embeddings
    import stores.warehouse.warehouse  # noqa: F401

    asyncio.run(_warm(url))
    base = _peak_rss_mb()
    tracemalloc.start()
    result = asyncio.run(JOBS[job](url))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out.put({"result": result, "traced_mb": peak / 2**20, "rss_mb": _peak_rss_mb() - base})


def _measure(job: str, url: str) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(job, url, queue))
    proc.start()
    got = queue.get(timeout=600)
    proc.join(timeout=60)
    return cast(dict[str, float], got)


async def run(quick: bool) -> list[BenchRow]:
    """Peak traced and RSS memory of both jobs, both ways, on the same warehouse file."""
    from stores.demo import data as demo_data

    sizes = demo_data.DemoSizes().scaled(0.1 if quick else 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        demo_data.write_duckdb(path, demo_data.generate(sizes))
        url = f"duckdb:///{str(path).lstrip('/')}?read_only=true"
        m = {job: await asyncio.to_thread(_measure, job, url) for job in JOBS}
    if m["whole"]["result"] != m["streamed"]["result"]:
        raise AssertionError("streaming computed a different answer")
    rows_n = sizes.calls * sizes.segments_per_call
    rows = []
    for label, naive, engine in (
        (f"aggregate {rows_n:,} transcript rows", "whole", "streamed"),
        (f"embed {min(rows_n, EMBED_TEXTS):,} texts", "embed_whole", "embed_batched"),
    ):
        for kind, unit in (("traced_mb", "MiB traced"), ("rss_mb", "MiB RSS")):
            a, b = m[naive][kind], m[engine][kind]
            rows.append(BenchRow(f"{label}, peak", a, b, unit, "-50% memory", b <= 0.5 * a))
    return rows


if __name__ == "__main__":
    main(run, "memory: load everything vs stream / batch")
