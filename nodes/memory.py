"""Memory recall: the past conversations (Gong calls, Slack messages) most relevant to a query.

Memories live in the engine's `MemoryStore` under the namespace
``("memories", <company_id>, <source>)``, so a search under ``("memories", company_id)``
stays within one company (the HNSW search filters by namespace inside the index).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from langgraph.runtime import Runtime
from langgraph.store.base import SearchItem, SearchOp

from nodes.context import Resources
from nodes.risk_detector import RiskDetector
from nodes.state import DealReviewState

if TYPE_CHECKING:
    from stores.memory.store import MemoryStore

NAMESPACE = "memories"
RELEVANCE_FLOOR = 0.1  # cosine to the risk query below which a memory is not considered
RECALL_PER_DEAL = 3
_CANDIDATES = 30  # searched per deal, before the floor, the risk check and de-duplication


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
    """The `limit` memories closest to `query`, best first, with their cosine scores
    (none while the index is not ready: `memory_status` says why)."""
    store = _store(runtime)
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
        "company_id": item.value.get("company_id"),
    }


def deal_query(runtime: Runtime[Resources]) -> str:
    """What a deal's memories are searched for: the risk taxonomy's descriptions."""
    return " ".join(runtime.context.risk_detector().taxonomy.describe().values())


def relevant(
    hits: list[dict[str, Any]], company_id: str, detector: RiskDetector
) -> list[dict[str, Any]]:
    """The company's own memories that speak of a risk (the detector hears one: `risks`)
    and are above the similarity floor, one per distinct text, best first."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for hit in sorted(hits, key=lambda h: -h["score"]):
        text = " ".join(str(hit.get("text") or "").lower().split())
        if hit["score"] < RELEVANCE_FLOOR or text in seen:
            continue
        if hit.get("company_id") not in (None, company_id):
            continue
        risks = sorted({d.risk for d in detector.detect(str(hit.get("text") or ""))})
        if not risks:
            continue
        seen.add(text)
        out.append({**hit, "risks": risks})
    return out[:RECALL_PER_DEAL]


async def deal_memory_agent(state: DealReviewState, runtime: Runtime[Resources]) -> dict[str, Any]:
    """For each deal, the past conversations of its own company that speak of risks.

    All deals' searches go to the store as one batch: one embedding call, one hop to
    the store's worker thread. Only memories that speak of a risk (by the risk detector)
    and are above `RELEVANCE_FLOOR` are kept, one per distinct text, each with its source
    (Gong call or Slack message, id, date) and the risks heard in it.
    """
    rows = await runtime.context.warehouse.loader("hubspot_deals", "deal_id").load_many(
        state["deal_ids"]
    )
    companies = {
        d: found[0]["company_id"] for d, found in zip(state["deal_ids"], rows, strict=True) if found
    }
    out: dict[str, Any] = {deal_id: [] for deal_id in state["deal_ids"]}
    store = _store(runtime)
    if store is None:  # loading or being built: say so, do not wait
        return {"memories": out, "memory_index": memory_status(runtime)}
    if not companies:
        return {"memories": out}
    query = deal_query(runtime)
    ops = [
        SearchOp(memory_namespace(c), query=query, limit=_CANDIDATES) for c in companies.values()
    ]
    results = await store.abatch(ops)
    for (deal_id, company_id), items in zip(companies.items(), results, strict=True):
        hits = [_hit(item) for item in cast(list[SearchItem], items or [])]
        out[deal_id] = relevant(hits, company_id, runtime.context.risk_detector())
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
    if _store(runtime) is None:
        return {"memories": hits, "memory_index": memory_status(runtime)}
    return {"memories": hits}


def _store(runtime: Runtime[Resources]) -> MemoryStore | None:
    index = runtime.context.memory
    return index.store if index is not None else None


def memory_status(runtime: Runtime[Resources]) -> dict[str, Any]:
    """Why no memories were recalled: the index's state (``building`` with its progress,
    ``loading``, ``absent``, ``failed``) and what to do."""
    index = runtime.context.memory
    if index is None:
        return {"state": "absent", "message": "this engine has no memory index"}
    return index.status()
