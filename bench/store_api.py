"""Semantic search through the LangGraph API's store route: InMemoryStore vs MemoryStore.

``langgraph dev`` keeps its store in LangGraph's `InMemoryStore`, whose search scores
every vector of the namespace; `sophia serve` keeps it in `MemoryStore` (HNSW). Both
sides here are the same route (``POST /store/items/search`` with a ``query``, the
handler of `graphs.server.langgraph_api.store_routes`), called over ASGI in this
process with the same items, embedder (the local hashing embedder, 384 dims) and
queries; only the store behind the route differs. p50 and p95 per request.

    uv run python -m bench.store_api [--quick]
"""

from __future__ import annotations

import math
import random
import statistics
import time
from typing import Any

import httpx
from langgraph.store.memory import InMemoryStore
from starlette.applications import Starlette

from bench.common import BenchRow, main

TOPICS = ["pricing", "security", "renewal", "onboarding", "integration", "support",
          "discount", "contract", "migration", "latency", "invoice", "roadmap"]  # fmt: skip
WORDS = ["customer", "asked", "about", "the", "team", "review", "next", "quarter", "call",
         "follow", "plan", "budget", "legal", "owner", "timeline", "risk", "demo"]  # fmt: skip


def _items(n: int, seed: int = 7) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.sample(TOPICS, 2) + rng.sample(WORDS, 8)
        out.append((("open", "docs"), f"k{i}", {"text": " ".join(words), "n": i}))
    return out


def _app(store: Any) -> Starlette:
    from graphs.server.langgraph_api.api_store import ApiStore
    from graphs.server.langgraph_api.store_routes import store_routes

    app = Starlette(routes=store_routes())
    app.state.sdk_store = ApiStore(store)
    return app


async def _latencies(app: Starlette, queries: list[str]) -> list[float]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        body = {"namespace_prefix": ["docs"], "query": queries[0], "limit": 10}
        assert (await client.post("/store/items/search", json=body)).status_code == 200
        out = []
        for query in queries:
            started = time.perf_counter()
            response = await client.post("/store/items/search",
                                         json={**body, "query": query})  # fmt: skip
            out.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and len(response.json()["items"]) == 10
        return out


def _cut(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else math.nan


async def run(quick: bool) -> list[BenchRow]:
    """p50/p95 of a query search through the store route, InMemoryStore vs MemoryStore."""
    from stores.memory.embeddings import HashingEmbeddings
    from stores.memory.store import MemoryStore

    n, requests = (5_000, 50) if quick else (20_000, 100)
    embed = HashingEmbeddings(384)
    items = _items(n)
    theirs = InMemoryStore(index={"dims": 384, "embed": embed, "fields": ["text"]})
    for start in range(0, n, 1000):
        await theirs.abatch([_put(ns, k, v) for ns, k, v in items[start : start + 1000]])
    ours = MemoryStore(index={"dims": 384, "embed": embed, "fields": ["text"]})
    await ours.aput_many(items)
    rng = random.Random(11)
    queries = [" ".join(rng.sample(TOPICS, 1) + rng.sample(WORDS, 2)) for _ in range(requests)]
    naive = await _latencies(_app(theirs), queries)
    engine = await _latencies(_app(ours), queries)
    label = f"store search via the API, {n:,} items"
    return [
        BenchRow(f"{label}: p50", _cut(naive, 50), _cut(engine, 50), "ms",
                 "HNSW below the scan", _cut(engine, 50) < _cut(naive, 50)),
        BenchRow(f"{label}: p95", _cut(naive, 95), _cut(engine, 95), "ms"),
    ]  # fmt: skip


def _put(namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> Any:
    from langgraph.store.base import PutOp

    return PutOp(namespace, key, value)


if __name__ == "__main__":
    main(run, "Store search through the API: InMemoryStore (langgraph dev) vs MemoryStore")
