"""Searches running while writes happen (threads and asyncio) stay correct and never crash."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from stores.memory.embeddings import HashingEmbeddings
from stores.memory.store import MemoryStore

DIMS = 64


def make_store() -> MemoryStore:
    return MemoryStore(
        index={"dims": DIMS, "embed": HashingEmbeddings(DIMS), "fields": ["text"]},
        max_elements=64, write_chunk=64, batch_size=128, exact_threshold=0,
    )  # fmt: skip


def doc(key: str, i: int) -> dict[str, Any]:
    return {"text": f"shared words topic{i % 11} item{i}", "key": key}


def check(results: list[Any], dead: set[str]) -> None:
    keys = [r.key for r in results]
    assert len(keys) == len(set(keys)), "an item came back twice"
    for r in results:
        assert r.key not in dead, f"deleted item {r.key} was returned"
        assert r.value["key"] == r.key, "a result carries another item's value"
        assert r.score is None or -1.0001 <= r.score <= 1.0001


def test_threaded_searches_during_writes_and_resizes() -> None:
    store = make_store()
    store.put_many([(("d",), f"base{i}", doc(f"base{i}", i)) for i in range(400)])
    dead = {f"base{i}" for i in range(0, 400, 4)}
    for key in dead:
        store.delete(("d",), key)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for round_ in range(6):  # grows the index several times, reuses freed slots
                rows = [(("d",), f"w{round_}-{i}", doc(f"w{round_}-{i}", i)) for i in range(500)]
                store.put_many(rows)
                for i in range(0, 500, 3):
                    store.put(("d",), f"w{round_}-{i}", doc(f"w{round_}-{i}", i + 1))
                for i in range(1, 500, 7):
                    store.delete(("d",), f"w{round_}-{i}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def searcher(n: int) -> None:
        try:
            count = 0
            while not done.is_set() or count < 20:
                check(store.search(("d",), query=f"shared topic{count % 11}", limit=10), dead)
                check(store.search((), query="item7", filter={"key": {"$ne": "x"}}, limit=5), dead)
                hits = store.search((), query="item7", filter={"key": f"w0-{count % 500}"})
                check(hits, dead)
                assert all(h.key == f"w0-{count % 500}" for h in hits)
                count += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=searcher, args=(n,)) for n in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    deleted_later = {f"w{r}-{i}" for r in range(6) for i in range(1, 500, 7)}
    final = store.search(("d",), query="shared words", limit=5000)
    check(final, dead | deleted_later)
    assert len(final) == 300 + 6 * (500 - len(range(1, 500, 7)))


async def test_async_searches_during_bulk_puts() -> None:
    store = make_store()
    await store.aput_many([(("d",), f"base{i}", doc(f"base{i}", i)) for i in range(200)])
    for i in range(0, 200, 2):
        await store.adelete(("d",), f"base{i}")
    dead = {f"base{i}" for i in range(0, 200, 2)}
    seen: list[int] = []

    async def searches() -> None:
        for n in range(60):
            results = await store.asearch(("d",), query=f"topic{n % 11}", limit=10)
            check(results, dead)
            seen.append(len(results))
            await asyncio.sleep(0)

    rows = [(("d",), f"bulk{i}", doc(f"bulk{i}", i)) for i in range(3000)]
    await asyncio.gather(store.aput_many(rows), searches(), searches())
    assert len(seen) == 120 and min(seen) == 10
    assert len(store) == 3100
    check(await store.asearch(("d",), query="shared", limit=4000), dead)
