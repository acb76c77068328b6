"""recall@10 of MemoryStore's HNSW search against exact numpy search (not timed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from stores.memory.store import MemoryStore

N, DIMS, CLUSTERS, QUERIES = 20_000, 64, 50, 200


def clustered(n: int, seed: int) -> npt.NDArray[np.float32]:
    centres = np.random.default_rng(0).standard_normal((CLUSTERS, DIMS))
    rng = np.random.default_rng(seed)
    points = centres[rng.integers(0, CLUSTERS, n)] + 0.35 * rng.standard_normal((n, DIMS))
    return points.astype(np.float32)


def unit(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_recall_at_10_against_exact_search() -> None:
    data, queries = clustered(N, 1), clustered(QUERIES, 2)
    lookup = {f"q{i}": q for i, q in enumerate(queries)} | {f"d{i}": d for i, d in enumerate(data)}

    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [lookup[t].tolist() for t in texts]

    store = MemoryStore(index={"dims": DIMS, "embed": embed, "fields": ["text"]})  # defaults
    store.put_many([((f"ns{i % 2}",), str(i), {"text": f"d{i}", "half": i % 4 < 2})
                    for i in range(N)])  # fmt: skip
    exact = unit(data) @ unit(queries).T  # (N, QUERIES)

    def recall(namespace: tuple[str, ...], flt: dict[str, bool] | None,
               allowed: npt.NDArray[np.bool_]) -> float:  # fmt: skip
        hits = 0
        for j in range(QUERIES):
            scores = np.where(allowed, exact[:, j], -np.inf)
            truth = set(np.argpartition(-scores, 10)[:10].tolist())
            found = store.search(namespace, query=f"q{j}", filter=flt, limit=10)
            assert len(found) == 10
            hits += len(truth & {int(r.key) for r in found})
        return hits / (10 * QUERIES)

    ids = np.arange(N)
    assert recall((), None, np.ones(N, bool)) >= 0.95
    # Restricted inside the walk: a namespace (half the items), and namespace + filter.
    assert recall(("ns0",), None, ids % 2 == 0) >= 0.95
    assert recall(("ns1",), {"half": True}, (ids % 2 == 1) & (ids % 4 < 2)) >= 0.95
