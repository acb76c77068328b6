"""Memory recall: the past conversations (Gong calls, Slack messages) most relevant to a query.

Memories live in the engine's `MemoryStore` under the namespace
``("memories", <company_id>, <source>)``, so a search under ``("memories", company_id)``
stays within one company (the HNSW search filters by namespace inside the index).
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.store.base import SearchItem, SearchOp

from nodes.context import Resources
from nodes.state import DealReviewState

NAMESPACE = "memories"
DEAL_QUERY = "risk concern budget competitor price legal security timeline blocked delay question"


def memory_namespace(company_id: str | None = None, source: str | None = None) -> tuple[str, ...]:
    """The namespace (prefix) of memories, narrowed to a company and a source if given."""
    parts = [NAMESPACE]
    if company_id:
        parts.append(company_id)
        if source:
            parts.append(source)
    return tuple(parts)


async def recall(
    runtime: Runtime[Resources],
    query: str,
    *,
    company_id: str | None = None,
    source: str | None = None,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """The `limit` memories closest to `query`, best first, with their cosine scores."""
    store = runtime.context.memory
    if store is None:
        return []
    items = await store.asearch(memory_namespace(company_id, source), query=query, limit=limit)
    return [_hit(item) for item in items]


def _hit(item: SearchItem) -> dict[str, Any]:
    """A search result as the workflows report it."""
    return {
        "score": round(float(item.score or 0.0), 4),
        "source": item.value.get("source"),
        "ref": item.key,
        "text": item.value.get("text"),
        "at": item.value.get("at"),
        "deal_id": item.value.get("deal_id"),
    }


async def deal_memory_agent(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """For each deal, the past conversations of its company that speak of risks.

    All deals' searches go to the store as one batch: one embedding call, one hop to
    the store's worker thread.
    """
    rows = await runtime.context.warehouse.loader("hubspot_deals", "deal_id").load_many(
        state["deal_ids"]
    )
    companies = {
        d: found[0]["company_id"] for d, found in zip(state["deal_ids"], rows, strict=True) if found
    }
    out: dict[str, Any] = {deal_id: [] for deal_id in state["deal_ids"]}
    store = runtime.context.memory
    if store is None or not companies:
        return {"memories": out}
    ops = [SearchOp(memory_namespace(c), query=DEAL_QUERY, limit=3) for c in companies.values()]
    results = await store.abatch(ops)
    for deal_id, items in zip(companies, results, strict=True):
        out[deal_id] = [_hit(item) for item in cast(list[SearchItem], items or [])]
    return {"memories": out}


async def memory_recall_node(state: dict[str, Any], runtime: Runtime[Resources]) -> dict[str, Any]:
    """The node of the `memory_recall` graph: search with the input's query and filters."""
    hits = await recall(
        runtime,
        state["query"],
        company_id=state.get("company_id"),
        source=state.get("source"),
        limit=state.get("limit", 5),
    )
    return {"memories": hits}
