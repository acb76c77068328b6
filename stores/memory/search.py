"""Reads answered from an `ItemTable` and its HNSW index: `run_reads` (a batch's gets,
searches and namespace listings) and `search` (one `SearchOp`).

With a query vector: the namespace prefix and the equality conditions of the filter
(top-level or dotted keys, str/int/bool values) become a label mask (numpy and the
`FieldIndex`); the other conditions are a predicate hnswlib calls on each label it visits.
Items with several vectors count once, with their best score; a short result is padded
with matching items that have no vector. Without a query (or an index): a scan in
insertion order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from opentelemetry import trace

from stores.memory.errors import MemoryStoreError
from stores.memory.field_index import FieldIndex
from stores.memory.filters import check, matches
from stores.memory.hnsw import FloatArray, HnswIndex
from stores.memory.items import ItemTable, Record
from telemetry import monitor


def run_reads(
    ops: Sequence[Op],
    queries: Mapping[str, FloatArray],
    table: ItemTable,
    index: HnswIndex | None,
) -> list[Result]:
    """One result per op (None for a put); reads refresh the TTLs of what they return
    when the op says so. The caller holds the store's lock for reading."""
    results: list[Result] = []
    now = table.clock()
    for op in ops:
        if isinstance(op, GetOp):
            item = table.get(op.namespace, op.key)
            if item is not None and op.refresh_ttl:
                table.refresh(op.namespace, op.key, now)
            results.append(item)
        elif isinstance(op, SearchOp):
            found = search(op, queries.get(op.query) if op.query else None, table, index)
            if op.refresh_ttl:
                for hit in found:
                    table.refresh(hit.namespace, hit.key, now)
            results.append(found)
        elif isinstance(op, ListNamespacesOp):
            results.append(table.list_namespaces(op))
        elif isinstance(op, PutOp):
            results.append(None)
        else:
            raise MemoryStoreError(f"unknown store operation {type(op).__name__}")
    return results


def search(
    op: SearchOp, query: FloatArray | None, table: ItemTable, index: HnswIndex | None
) -> list[SearchItem]:
    """The page ``op`` asks for: scored by ``query`` when there is one and an index.

    `MemoryStoreError` if the filter uses an operator we do not know.
    """
    check(op.filter)
    if query is None or index is None:
        return _scan(op, table)
    started = time.perf_counter()
    attributes: dict[str, Any] = {}
    with monitor("memory.search", kind="vector_search"):
        wanted = max(op.offset + op.limit, 0)
        kept = _vector_search(op, query, wanted, table, index, attributes)
        out = [_search_item(rec.item, score) for rec, score in kept[op.offset :]]
        if len(out) < op.limit:
            out.extend(_unscored(op, op.limit - len(out), table))
    # An event on the caller's span (the memory node's): one HNSW query is microseconds.
    span = trace.get_current_span()
    if span.is_recording():
        attributes["sophia.memory.results"] = len(out)
        attributes["sophia.memory.duration_ms"] = (time.perf_counter() - started) * 1000
        span.add_event("memory.search", attributes)
    return out


def _vector_search(
    op: SearchOp,
    query: FloatArray,
    wanted: int,
    table: ItemTable,
    index: HnswIndex,
    attributes: dict[str, Any],
) -> list[tuple[Record, float]]:
    allowed = None
    if op.namespace_prefix:
        ids = table.group_ids(table.namespaces_under(op.namespace_prefix))
        allowed = np.isin(index.groups, np.asarray(ids, dtype=np.int32))
    predicate = None
    rest: dict[str, Any] = {}
    for name, condition in (op.filter or {}).items():
        target = _equality_target(condition)
        if target is None:
            rest[name] = condition
            continue
        # Equality on a field: answered from the field index as a mask.
        mask = np.zeros(len(index.groups), dtype=bool)
        matching = table.field_index.labels(name, target, table.indexed_values)
        mask[np.fromiter(matching, dtype=np.int64, count=len(matching))] = True
        allowed = mask if allowed is None else allowed & mask
    if rest:
        owners = table.owners
        predicate = lambda label: matches(owners[label].item.value, rest)  # noqa: E731
    k = wanted
    while True:
        labels, scores, strategy = index.search(query, k, allowed, predicate)
        best: dict[int, tuple[Record, float]] = {}
        for label, score in zip(labels, scores, strict=True):
            record = table.owners[label]
            if id(record) not in best:
                best[id(record)] = (record, score)
        # Items with several vectors can fill k with duplicates: widen and retry.
        if len(best) >= wanted or len(labels) < k:
            break
        k *= 2
    attributes["sophia.memory.k"] = k
    attributes["sophia.memory.ef"] = max(index.ef_search, k)
    attributes["sophia.memory.strategy"] = strategy
    return list(best.values())[:wanted]


def _unscored(op: SearchOp, count: int, table: ItemTable) -> list[SearchItem]:
    # InMemoryStore pads a short vector result with matching items that have no vector.
    out: list[SearchItem] = []
    for ns in table.namespaces_under(op.namespace_prefix):
        if not table.has_unindexed(ns):
            continue
        for record in table.data[ns].values():
            if not record.labels and matches(record.item.value, op.filter):
                out.append(_search_item(record.item, None))
                if len(out) >= count:
                    return out
    return out


def _scan(op: SearchOp, table: ItemTable) -> list[SearchItem]:
    matched = [
        record.item
        for ns in table.namespaces_under(op.namespace_prefix)
        for record in table.data[ns].values()
        if matches(record.item.value, op.filter)
    ]
    return [_search_item(item, None) for item in matched[op.offset : op.offset + op.limit]]


def _search_item(item: Item, score: float | None) -> SearchItem:
    return SearchItem(
        namespace=item.namespace, key=item.key, value=item.value,
        created_at=item.created_at, updated_at=item.updated_at, score=score,
    )  # fmt: skip


def _equality_target(condition: Any) -> Any:
    """The value a filter condition requires by equality, if the field index can answer it."""
    if isinstance(condition, dict):
        if set(condition) != {"$eq"}:
            return None
        condition = condition["$eq"]
    return condition if FieldIndex.usable(condition) else None
