"""Which chat model and embedder the engine uses: ``SOPHIA_LLM`` and ``SOPHIA_EMBEDDINGS``.

Both take ``cortex:<model>`` (Snowflake Cortex, through the engine's warehouse, which
must then be Snowflake) or nothing (no chat model: deterministic summaries; the local
hashing embedder for memories). `open_models` builds them for an open engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stores.errors import ConfigurationError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel

    from stores.resilience.guards import ResilienceRegistry
    from stores.settings import Settings
    from stores.warehouse.warehouse import Warehouse

PROVIDERS = ("cortex",)


@dataclass(frozen=True)
class ModelChoice:
    """A parsed ``<provider>:<model>`` setting."""

    provider: str
    model: str


def parse_model_setting(name: str, value: str | None) -> ModelChoice | None:
    """``"cortex:mistral-large2"`` -> ModelChoice; None when unset; ConfigurationError else."""
    if value is None or not value.strip():
        return None
    provider, sep, model = value.strip().partition(":")
    if not sep or not model or provider not in PROVIDERS:
        raise ConfigurationError(
            f"SOPHIA_{name.upper()}={value!r}: expected <provider>:<model> with provider one of "
            f"{', '.join(PROVIDERS)} (e.g. cortex:mistral-large2)"
        )
    return ModelChoice(provider, model)


@dataclass(frozen=True)
class Models:
    """The chat model and the embedder the settings ask for (None: not configured)."""

    llm: BaseChatModel | None = None
    embeddings: Embeddings | None = None
    embedding_dims: int | None = None


def open_models(
    settings: Settings, warehouse: Warehouse, cache: Any, guards: ResilienceRegistry | None
) -> Models:
    """Build the configured models on the engine's warehouse, guards and cache (no I/O)."""
    llm_choice = parse_model_setting("llm", settings.llm)
    embed_choice = parse_model_setting("embeddings", settings.embeddings)
    if (llm_choice or embed_choice) and warehouse.backend != "snowflake":
        raise ConfigurationError(
            "Snowflake Cortex (SOPHIA_LLM / SOPHIA_EMBEDDINGS = cortex:<model>) needs a Snowflake "
            f"warehouse; SOPHIA_WAREHOUSE_URL points at {warehouse.backend}"
        )
    if llm_choice or embed_choice:
        # langchain-core's chat model base costs ~1 s to import: only when asked for.
        from stores.llm.cortex import CortexChat, CortexEmbeddings
    llm = None
    if llm_choice is not None:
        guard = guards.guard(f"llm:{llm_choice.model}") if guards is not None else None
        llm = CortexChat(model_name=llm_choice.model, warehouse=warehouse, guard=guard)
    embeddings: Any = None
    dims = None
    if embed_choice is not None:
        guard = guards.guard(f"llm:{embed_choice.model}") if guards is not None else None
        cortex = CortexEmbeddings(embed_choice.model, warehouse, guard=guard)
        dims = cortex.dims
        embeddings = cortex
        if cache is not None:
            from stores.memory.embeddings import CachedEmbeddings

            embeddings = CachedEmbeddings(cortex, cache, namespace="embeddings")
    return Models(llm=llm, embeddings=embeddings, embedding_dims=dims)
