"""Vector search: MemoryStore (HNSW) vs InMemoryStore vs numpy scan vs the seed's Python loop.

Run ``uv run python -m bench.vector_search`` (``--quick``: 10,000 items only;
``--sweep``: the HNSW parameter sweep behind MemoryStore's defaults). Data: clustered
float vectors (50 gaussian clusters) of 384 dims; queries from the same distribution;
recall@10 is measured against the exact numpy top 10. The stores are fed the vectors
through an embed function that looks them up, so only search and indexing are timed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil
from langgraph.store.base import PutOp
from langgraph.store.memory import InMemoryStore

from bench.common import BenchRow, print_table
from stores.memory.embeddings import HashingEmbeddings
from stores.memory.hnsw import HnswIndex, normalize
from stores.memory.store import MemoryStore

DIMS = 384
CLUSTERS = 50
Matrix = npt.NDArray[np.float32]


def clustered(
    n: int, dims: int = DIMS, clusters: int = CLUSTERS, *, latent: int = 48, seed: int = 7
) -> Matrix:
    """``n`` vectors in ``clusters`` gaussian clusters of a ``latent``-dim space, projected.

    Real text embeddings have a low intrinsic dimension; isotropic gaussian noise in all
    384 dims would make every point of a cluster equidistant (nearest neighbours become
    meaningless, for any index). So: cluster centres and spread (0.5) live in a
    ``latent``-dim space, a fixed random projection maps them to ``dims``, plus small
    isotropic noise (0.1). Centres and projection depend only on the shape, so data and
    queries made with different seeds share them.
    """
    rng = np.random.default_rng(seed)
    projection = np.random.default_rng(1).standard_normal((latent, dims)).astype(np.float32)
    centres = np.random.default_rng(2).standard_normal((clusters, latent)).astype(np.float32)
    which = rng.integers(0, clusters, n)
    points = centres[which] + 0.5 * rng.standard_normal((n, latent)).astype(np.float32)
    noise = 0.1 * rng.standard_normal((n, dims)).astype(np.float32)
    return (points @ projection + noise).astype(np.float32)


def exact_top(data: Matrix, queries: Matrix, k: int = 10) -> list[set[int]]:
    """Exact cosine top-k ids per query."""
    unit = normalize(data, data.shape[1])
    out = []
    for q in normalize(queries, data.shape[1]):
        scores = unit @ q
        out.append(set(np.argpartition(-scores, k)[:k].tolist()))
    return out


def _time_each(fn: Callable[[Any], Any], inputs: Sequence[Any]) -> tuple[list[float], list[Any]]:
    """Call ``fn`` on each input; wall times in ms and the results."""
    times, results = [], []
    for arg in inputs:
        start = time.perf_counter()
        results.append(fn(arg))
        times.append((time.perf_counter() - start) * 1000)
    return times, results


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rss_mb() -> float:
    gc.collect()
    return float(psutil.Process(os.getpid()).memory_info().rss) / 2**20


def _lookup_embed(data: Matrix) -> Callable[[Sequence[str]], list[list[float]]]:
    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [data[int(t.split("-")[1])].tolist() if t.startswith("doc-") else
                [float(x) for x in t.split(",")] for t in texts]  # fmt: skip

    return embed


def _query_text(vector: npt.NDArray[np.float32]) -> str:
    return ",".join(f"{x:.6f}" for x in vector)


def python_loop_search(memories: list[list[float]], query: list[float], k: int) -> list[int]:
    """The seed's recall_memories: a cosine similarity per memory in a Python loop."""

    def cosine(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(y * y for y in b))
        return dot / (na * nb) if na and nb else 0.0

    sims = [(i, cosine(query, m)) for i, m in enumerate(memories)]
    sims.sort(key=lambda s: s[1], reverse=True)
    return [i for i, _ in sims[:k]]


def _recall(found: list[list[int]], truth: list[set[int]]) -> float:
    return statistics.mean(len(set(f) & t) / len(t) for f, t in zip(found, truth, strict=True))


def _keys_to_ids(results: list[Any]) -> list[list[int]]:
    return [[int(r.key) for r in res] for res in results]


def _inmemorystore(
    embed: Callable[[Sequence[str]], list[list[float]]],
    items: Sequence[tuple[tuple[str, ...], str, dict[str, Any]]],
    q_texts: list[str],
) -> tuple[float, float, list[float], list[Any]]:
    """Build LangGraph's InMemoryStore (batches of puts: it has no bulk API) and search."""
    rss = _rss_mb()
    store = InMemoryStore(index={"dims": DIMS, "embed": embed, "fields": ["text"]})
    start = time.perf_counter()
    for s in range(0, len(items), 2048):
        store.batch([PutOp(ns, k, v) for ns, k, v in items[s : s + 2048]])
    build = time.perf_counter() - start
    mem = _rss_mb() - rss
    times, results = _time_each(lambda qt: store.search(("docs",), query=qt, limit=10), q_texts)
    return build, mem, times, results


def compare(n: int, n_queries: int, slow_queries: int) -> list[BenchRow]:
    """Build all four at ``n`` items, search, and return table rows."""
    data = clustered(n)
    queries = clustered(n_queries, seed=99)
    truth = exact_top(data, queries)
    embed = _lookup_embed(data)
    items = [(("docs",), str(i), {"text": f"doc-{i}"}) for i in range(n)]
    q_texts = [_query_text(q) for q in queries]
    rows: list[BenchRow] = []
    label = f"@{n // 1000}k"

    rss0 = _rss_mb()
    ours = MemoryStore(index={"dims": DIMS, "embed": embed, "fields": ["text"]}, max_elements=n)
    start = time.perf_counter()
    ours.put_many(items)
    build_ours = time.perf_counter() - start
    mem_ours = _rss_mb() - rss0
    ours_times, ours_res = _time_each(
        lambda qt: ours.search(("docs",), query=qt, limit=10), q_texts
    )
    recall_ours = _recall(_keys_to_ids(ours_res), truth)

    unit = normalize(data, DIMS)
    np_times, _ = _time_each(
        lambda q: np.argpartition(-(unit @ q), 10)[:10].tolist(), list(normalize(queries, DIMS))
    )
    build_theirs, mem_theirs, th_times, th_res = _inmemorystore(
        embed, items, q_texts[:slow_queries]
    )
    recall_theirs = _recall(_keys_to_ids(th_res), truth[:slow_queries])
    memories = data.tolist()
    loop_queries = [q.tolist() for q in queries[: max(1, slow_queries // 2)]]
    loop_times, loop_res = _time_each(lambda q: python_loop_search(memories, q, 10), loop_queries)
    recall_loop = _recall(loop_res, truth[: len(loop_res)])

    p50, p99 = _pct(ours_times, 0.5), _pct(ours_times, 0.99)
    rows += [
        BenchRow(f"search p50 {label}: InMemoryStore vs MemoryStore",
                 _pct(th_times, 0.5), p50, "ms", "<50 ms", p50 < 50),
        BenchRow(f"search p99 {label}: InMemoryStore vs MemoryStore",
                 _pct(th_times, 0.99), p99, "ms", "<50 ms", p99 < 50),
        BenchRow(f"search p50 {label}: Python loop vs MemoryStore",
                 _pct(loop_times, 0.5), p50, "ms", "<50 ms", p50 < 50),
        BenchRow(f"search p50 {label}: numpy scan vs MemoryStore",
                 _pct(np_times, 0.5), p50, "ms", "info", True),
        BenchRow(f"search p99 {label}: numpy scan vs MemoryStore",
                 _pct(np_times, 0.99), p99, "ms", "info", True),
        BenchRow(f"recall@10 {label}: InMemoryStore vs MemoryStore",
                 recall_theirs, recall_ours, "ratio", ">=0.95", recall_ours >= 0.95),
        BenchRow(f"recall@10 {label}: Python loop vs MemoryStore",
                 recall_loop, recall_ours, "ratio", ">=0.95", recall_ours >= 0.95),
        BenchRow(f"build {label}: InMemoryStore vs MemoryStore",
                 build_theirs, build_ours, "s", "info", True),
        BenchRow(f"build rate {label}: MemoryStore items/s (engine)",
                 math.nan, n / build_ours, "items/s", ">2000/s", n / build_ours > 2000),
        BenchRow(f"memory {label}: InMemoryStore vs MemoryStore (RSS)",
                 mem_theirs, mem_ours, "MB", "lower", mem_ours < mem_theirs),
    ]  # fmt: skip
    return rows


async def run(quick: bool) -> list[BenchRow]:
    """The comparison at 10,000 items (and 100,000 unless ``quick``) and a bulk index of
    short texts (20,000 quick, else 120,000), as table rows."""
    rows = await asyncio.to_thread(compare, 10_000, 50 if quick else 200, 5 if quick else 20)
    if not quick:
        rows += await asyncio.to_thread(compare, 100_000, 200, 3)
    rows += await asyncio.to_thread(filtered, 10_000 if quick else 100_000, 100, 5 if quick else 10)
    rows += await bulk_index(20_000 if quick else 120_000)
    return rows


def short_texts(n: int, seed: int = 3) -> list[str]:
    """``n`` call-snippet-like texts: 6 words of one of 60 topics + 6 of a common pool."""
    rng = random.Random(seed)
    topics = [[f"t{j}w{i}" for i in range(40)] for j in range(60)]
    common = [f"c{i}" for i in range(2000)]
    return [
        " ".join([*rng.choices(rng.choice(topics), k=6), *rng.choices(common, k=6)])
        for _ in range(n)
    ]


def filtered(n: int, n_queries: int, slow_queries: int) -> list[BenchRow]:
    """Search with a 1%-selective equality filter (one company of 100): both stores."""
    texts = short_texts(n)
    emb = HashingEmbeddings(DIMS)
    config = {"dims": DIMS, "embed": emb, "fields": ["text"]}
    rows = [(("gong",), str(i), {"text": t, "company": f"c{i % 100}"}) for i, t in enumerate(texts)]
    ours = MemoryStore(index=config)  # type: ignore[arg-type]
    ours.put_many(rows)
    theirs = InMemoryStore(index=config)  # type: ignore[arg-type]
    for s in range(0, n, 2048):
        theirs.batch([PutOp(ns, k, v) for ns, k, v in rows[s : s + 2048]])
    queries = short_texts(n_queries, seed=11)

    def search(store: Any, q: str) -> list[str]:
        hits = store.search(("gong",), query=q, filter={"company": "c7"}, limit=10)
        return [h.key for h in hits]

    ours.search(("gong",), query="warm up", filter={"company": "c7"})  # builds the field index
    ours_times, ours_res = _time_each(lambda q: search(ours, q), queries)
    th_times, th_res = _time_each(lambda q: search(theirs, q), queries[:slow_queries])
    agree = statistics.mean(
        len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(ours_res, th_res, strict=False)
    )
    label = f"@{n // 1000}k"
    p50 = _pct(ours_times, 0.5)
    return [
        BenchRow(f"filtered search p50 {label} (1% filter): InMemoryStore vs MemoryStore",
                 _pct(th_times, 0.5), p50, "ms", "<50 ms", p50 < 50),
        BenchRow(f"filtered recall@10 {label} vs InMemoryStore's exact answer",
                 1.0, agree, "ratio", ">=0.95", agree >= 0.95),
    ]  # fmt: skip


async def bulk_index(n: int) -> list[BenchRow]:
    """Index ``n`` short texts with HashingEmbeddings through ``aput_many`` (the seed path)."""
    texts = short_texts(n)
    store = MemoryStore(index={"dims": DIMS, "embed": HashingEmbeddings(DIMS), "fields": ["text"]})
    rows = [(("gong", f"c{i % 200}"), str(i), {"text": t}) for i, t in enumerate(texts)]
    start = time.perf_counter()
    await store.aput_many(rows)
    elapsed = time.perf_counter() - start
    label = f"{n // 1000}k short texts"
    return [
        BenchRow(f"bulk index {label} (HashingEmbeddings+HNSW)", math.nan, elapsed, "s",
                 "<60 s @120k", elapsed < 60 * n / 120_000),
        BenchRow(f"bulk index rate {label} (engine)", math.nan, n / elapsed, "items/s",
                 ">2000/s", n / elapsed > 2000),
    ]  # fmt: skip


def sweep(n: int = 20_000, dims: int = DIMS, n_queries: int = 200) -> None:
    """Print recall@10, latency and build rate over M, ef_construction and ef_search.

    Two data sets: clustered vectors (`clustered`) and HashingEmbeddings of short texts
    (`short_texts`: sparse, nearly orthogonal vectors, the harder case for HNSW).
    """
    emb = HashingEmbeddings(dims)
    sets = {
        "clustered": (clustered(n, dims), clustered(n_queries, dims, seed=99)),
        "hashed-text": (
            emb.embed_array(short_texts(n)),
            emb.embed_array(short_texts(n_queries, 9)),
        ),
    }
    print(f"sweep: {n} vectors of {dims} dims, {n_queries} queries")
    header = ("data", "M", "ef_c", "ef", "recall@10", "p50 ms", "build/s")
    print("{:<12} {:>3} {:>5} {:>4} {:>10} {:>7} {:>8}".format(*header))
    for name, (data, raw_queries) in sets.items():
        unit, queries = normalize(data, dims), normalize(raw_queries, dims)
        truth = exact_top(data, queries)
        for m, efc in [(8, 64), (12, 40), (12, 64), (16, 64), (16, 100), (24, 100)]:
            index = HnswIndex(dims, m=m, ef_construction=efc, max_elements=n, exact_threshold=0)
            start = time.perf_counter()
            for s in range(0, n, 512):
                labels = index.allocate(min(512, n - s))
                index.write(labels, unit[s : s + len(labels)], [0] * len(labels))
            rate = n / (time.perf_counter() - start)
            for ef in (32, 64, 128):
                index._index.set_ef(ef)
                index.ef_search = ef
                times, found = [], []
                for q in queries:
                    t0 = time.perf_counter()
                    labels_found, _, _ = index.search(q, 10)
                    times.append((time.perf_counter() - t0) * 1000)
                    found.append(labels_found)
                print(f"{name:<12} {m:>3} {efc:>5} {ef:>4} {_recall(found, truth):>10.3f} "
                      f"{statistics.median(times):>7.3f} {rate:>8.0f}")  # fmt: skip


def main() -> None:
    """Command line: ``--quick`` for 10k only, ``--sweep`` for the parameter sweep."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    if args.sweep:
        sweep()
        return
    rows = asyncio.run(run(args.quick))
    print_table(rows, title="vector search")


if __name__ == "__main__":
    main()
