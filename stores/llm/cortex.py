"""Snowflake Cortex as the engine's chat model and embedder, through the pooled warehouse.

`CortexChat` is a langchain-core chat model over ``SNOWFLAKE.CORTEX.COMPLETE(model,
prompt)``; `CortexEmbeddings` is an `Embeddings` over ``SNOWFLAKE.CORTEX.EMBED_TEXT_768``
or ``_1024`` (by the model's width). Neither opens a connection: each call is one bound
statement on the engine's `Warehouse` (its pool, its breaker and retry for the
connection), run through the model's own guard (``llm:<model>`` in the
`ResilienceRegistry`: breaker, retry, timeout). A statement Cortex rejects (an unknown
model, a prompt too long) is a `CortexError`, which counts against the model's breaker
but not the warehouse's. Embeddings are batched (one statement per ``batch_size`` texts);
wrap them in `stores.memory.embeddings.CachedEmbeddings` for the ``embeddings`` cache
namespace (`select.open_models` does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from stores.errors import ConfigurationError, QueryError, SophiaError

if TYPE_CHECKING:
    from stores.resilience.guards import CallGuard
    from stores.warehouse.warehouse import Warehouse

COMPLETE_SQL = "SELECT SNOWFLAKE.CORTEX.COMPLETE(?, ?) AS answer"
EMBED_WIDTHS = {
    "e5-base-v2": 768,
    "snowflake-arctic-embed-m": 768,
    "snowflake-arctic-embed-m-v1.5": 768,
    "multilingual-e5-large": 1024,
    "nv-embed-qa-4": 1024,
    "snowflake-arctic-embed-l-v2.0": 1024,
    "voyage-multilingual-2": 1024,
}
MAX_EMBED_BATCH = 500  # texts per statement: one bound value each, plus the model


class CortexError(SophiaError):
    """Cortex refused or failed a call (the statement was rejected): the model's fault."""


async def _guarded(guard: CallGuard | None, fn: Any, *args: Any) -> Any:
    return await (guard.run(fn, *args) if guard is not None else fn(*args))


def prompt_of(messages: Sequence[BaseMessage]) -> str:
    """The one prompt string COMPLETE takes: a lone message as it is, else role-tagged lines."""
    if len(messages) == 1:
        return str(messages[0].content)
    return "\n".join(f"{m.type}: {m.content}" for m in messages)


class CortexChat(BaseChatModel):
    """``SNOWFLAKE.CORTEX.COMPLETE`` as a chat model (async only: ``ainvoke``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    warehouse: Any
    guard: Any = None

    @property
    def _llm_type(self) -> str:
        return "snowflake-cortex"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise CortexError("the Cortex chat model runs on the engine's event loop: use ainvoke")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        answer = await _guarded(self.guard, self._complete, prompt_of(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])

    async def _complete(self, prompt: str) -> str:
        wh: Warehouse = self.warehouse
        try:
            rows = await wh.query(COMPLETE_SQL, (self.model_name, prompt))
        except QueryError as exc:
            raise CortexError(f"Cortex COMPLETE with {self.model_name!r} failed: {exc}") from exc
        return str(rows[0]["answer"]) if rows else ""


class CortexEmbeddings(Embeddings):
    """``SNOWFLAKE.CORTEX.EMBED_TEXT_768/1024`` as an embedder (async; batched statements)."""

    def __init__(
        self,
        model: str,
        warehouse: Warehouse,
        *,
        guard: CallGuard | None = None,
        batch_size: int = 100,
    ) -> None:
        if model not in EMBED_WIDTHS:
            known = ", ".join(sorted(EMBED_WIDTHS))
            raise ConfigurationError(f"unknown Cortex embedding model {model!r}; known: {known}")
        self.model_name = model
        self.dims = EMBED_WIDTHS[model]
        self.warehouse = warehouse
        self.guard = guard
        self.batch_size = max(1, min(batch_size, MAX_EMBED_BATCH))

    def _statement(self, n: int) -> str:
        rows = ", ".join(f"({i}, ?)" for i in range(n))
        return (
            f"SELECT v.i AS i, SNOWFLAKE.CORTEX.EMBED_TEXT_{self.dims}(?, v.t) AS e "  # noqa: S608
            f"FROM (VALUES {rows}) AS v (i, t) ORDER BY v.i"
        )

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        try:
            rows = await self.warehouse.query(
                self._statement(len(texts)), (self.model_name, *texts)
            )
        except QueryError as exc:
            raise CortexError(f"Cortex EMBED_TEXT with {self.model_name!r} failed: {exc}") from exc
        vectors = [_vector(r["e"]) for r in rows]
        if len(vectors) != len(texts):
            raise CortexError(f"Cortex returned {len(vectors)} vectors for {len(texts)} texts")
        return vectors

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """One guarded statement per ``batch_size`` texts, in order."""
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out.extend(await _guarded(self.guard, self._embed_batch, batch))
        return out

    async def aembed_query(self, text: str) -> list[float]:
        """One text."""
        return (await self.aembed_documents([text]))[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Not available: Cortex runs through the async warehouse (use aembed_documents)."""
        raise CortexError("Cortex embeddings run on the engine's event loop: use aembed_documents")

    def embed_query(self, text: str) -> list[float]:
        """Not available: use aembed_query."""
        raise CortexError("Cortex embeddings run on the engine's event loop: use aembed_query")


def _vector(value: Any) -> list[float]:
    """A VECTOR as the connector returns it: a list, or its JSON text."""
    if isinstance(value, str):
        value = json.loads(value)
    return [float(x) for x in value]
