"""The demo memory index: Gong calls and Slack messages in an HNSW `MemoryStore`.

`open_memory_store(data_dir, cache)` is what the Engine opens: the snapshot under
``<data dir>/memory`` (empty when there is none), with query embeddings read through the
cache's ``embeddings`` namespace. `seed_memory(settings)` builds that snapshot from the
embedded warehouse, streaming the rows, with a progress bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, cast

from langchain_core.embeddings import Embeddings

from nodes.memory import memory_namespace
from stores.cache.tiered import TieredCache
from stores.memory.embeddings import CachedEmbeddings, HashingEmbeddings
from stores.memory.store import MemoryStore
from stores.settings import Settings
from stores.warehouse.warehouse import Warehouse

DIMS = 384
BATCH = 8192  # rows read, shaped and indexed per step
CALLS_SQL = (
    "SELECT c.call_id, c.company_id, c.deal_id, c.title, c.started_at, "
    "string_agg(t.text, ' ' ORDER BY t.seq) AS text "
    "FROM gong_calls c JOIN gong_transcripts t ON t.call_id = c.call_id "
    "GROUP BY c.call_id, c.company_id, c.deal_id, c.title, c.started_at ORDER BY c.call_id"
)
MESSAGES_SQL = (
    "SELECT m.message_id, m.text, m.ts, m.user_name, ch.deal_id, ch.company_id "
    "FROM slack_messages m JOIN slack_channels ch ON ch.channel_id = m.channel_id "
    "ORDER BY m.message_id"
)


def memory_path(data_dir: Path) -> Path:
    """Where the memory snapshot lives under the data dir."""
    return data_dir / "memory"


def open_memory_store(
    data_dir: Path,
    cache: TieredCache | None = None,
    embeddings: Embeddings | None = None,
    dims: int | None = None,
) -> MemoryStore:
    """The engine's memory store: the snapshot (if seeded), cached query embeddings.

    `embeddings` (of width `dims`) replaces the local hashing embedder, e.g. Cortex from
    ``SOPHIA_EMBEDDINGS``; it is used as given (already cached), and a snapshot built with
    another width is refused by the store (re-seed the index with that embedder).
    """
    embed: Any = embeddings
    if embed is None:
        embed = HashingEmbeddings(DIMS)
        if cache is not None:
            embed = CachedEmbeddings(embed, cache, namespace="embeddings")
    return MemoryStore(
        index={"dims": dims or DIMS, "embed": embed, "fields": ["text"]},
        path=memory_path(data_dir),
    )


Item = tuple[tuple[str, ...], str, dict[str, Any]]


def _call_memory(r: dict[str, Any]) -> Item:
    value = {
        "text": f"{r['title']}: {r['text']}",
        "source": "gong",
        "deal_id": r["deal_id"],
        "company_id": r["company_id"],
        "at": r["started_at"].isoformat(),
    }
    return memory_namespace(r["company_id"], "gong"), r["call_id"], value


def _message_memory(r: dict[str, Any]) -> Item:
    value = {
        "text": r["text"],
        "source": "slack",
        "by": r["user_name"],
        "deal_id": r["deal_id"],
        "company_id": r["company_id"],
        "at": r["ts"].isoformat(),
    }
    return memory_namespace(r["company_id"], "slack"), r["message_id"], value


async def seed_memory(
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Index every demo call transcript and Slack message; returns how many items.

    `progress` gets the closing line; `on_progress(done, total)` each batch indexed (a
    background builder writes it to its status file). A person at a terminal sees a bar.
    """
    say = progress or (lambda _m: None)
    path = memory_path(settings.data_dir)
    started = time.perf_counter()
    store = MemoryStore(
        index={"dims": DIMS, "embed": HashingEmbeddings(DIMS), "fields": ["text"]},
        path=path,
        # Nothing searches this store while it is built: add whole batches at once, so
        # hnswlib's threads share each one (512-item slices left them mostly idle).
        write_chunk=BATCH,
    )
    from rich.progress import Progress

    url = settings.resolved_warehouse_url
    done = 0
    async with Warehouse.open(url if "?" in url else f"{url}?read_only=true") as wh:
        (calls,) = await wh.query("SELECT count(*) AS n FROM gong_calls")
        (messages,) = await wh.query("SELECT count(*) AS n FROM slack_messages")
        total = int(calls["n"]) + int(messages["n"])
        with Progress(transient=True, disable=on_progress is not None) as bar:
            task = bar.add_task("indexing memories", total=total)
            # One batch is added to the index while the next is read and shaped: the
            # warehouse's thread, hnswlib's threads and the loop work at the same time.
            adding: asyncio.Task[None] | None = None
            added = 0
            for sql, to_item in ((CALLS_SQL, _call_memory), (MESSAGES_SQL, _message_memory)):
                rows_of = wh.stream(sql, (), BATCH)
                batches = cast(AsyncGenerator[list[dict[str, Any]], None], rows_of)
                async with contextlib.aclosing(batches):
                    async for rows in batches:
                        items = [to_item(r) for r in rows]
                        if adding is not None:
                            await adding
                            done += added
                            bar.advance(task, added)
                            if on_progress is not None:
                                on_progress(done, total)
                        adding, added = asyncio.create_task(store.aput_many(items)), len(items)
            if adding is not None:
                await adding
                done += added
                bar.advance(task, added)
    await asyncio.to_thread(store.save, path)
    if on_progress is not None:
        on_progress(done, total)
    say(f"Indexed {done:,} memories into {path} in {time.perf_counter() - started:.1f}s")
    return done
