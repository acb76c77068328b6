"""`ItemTable`: the memory store's items by namespace and key, and which vectors are whose.

Every item may own several vectors in the HNSW index (one per embedded field); the table
maps each vector's label back to its item, counts the items per namespace that have no
vector (searches pad short results with them, as LangGraph's in-memory store does),
numbers namespaces (the index's group ids) and keeps the `FieldIndex` of equality filters
current, and knows when each item expires (`stores.memory.ttl`). It does no locking of
its own beyond the expiry heap's: `MemoryStore` holds its `RWLock` around every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from langgraph.store.base import Item, ListNamespacesOp

from stores.cache.serialization import pause_now
from stores.memory.field_index import FieldIndex
from stores.memory.filters import namespace_matches
from stores.memory.hnsw import FloatArray, HnswIndex
from stores.memory.ttl import Expiries, expiry

Namespace = tuple[str, ...]


@dataclass(slots=True)
class Record:
    """One item, the labels of its vectors (none if it is not indexed) and, when it has a
    TTL, its TTL in minutes and the epoch second it expires at."""

    item: Item
    labels: list[int] = field(default_factory=list)
    ttl: float | None = None
    expires_at: float | None = None

    def expired(self, now: float) -> bool:
        """Whether the item's time is up at `now`."""
        return self.expires_at is not None and self.expires_at <= now


@dataclass(slots=True)
class PreparedPut:
    """One put, ready to apply: its value (None: delete) and the vectors to store."""

    namespace: Namespace
    key: str
    value: dict[str, Any] | None
    vectors: FloatArray | None
    ttl: float | None = None
    """Minutes the item lives after its last write or refreshing read (None: forever)."""


class ItemTable:
    """Items, their vectors' labels and the per-field equality index (see module doc)."""

    def __init__(self) -> None:
        self.data: dict[Namespace, dict[str, Record]] = {}
        self.owners: dict[int, Record] = {}
        """Label -> the record whose vector it is."""
        self.field_index = FieldIndex()
        self._ns_ids: dict[Namespace, int] = {}
        self._ns_list: list[Namespace] = []
        self._unindexed: dict[Namespace, int] = {}
        self.expiries = Expiries()
        self.clock: Callable[[], float] = time.time
        """Wall-clock epoch seconds, for TTLs (the store may give its own)."""

    # -- reads --------------------------------------------------------------------------

    def count(self) -> int:
        """How many items the table holds."""
        return sum(len(items) for items in self.data.values())

    def record(self, namespace: Namespace, key: str) -> Record | None:
        """The record under ``namespace``/``key``, if any."""
        return self.data.get(namespace, {}).get(key)

    def get(self, namespace: Namespace, key: str) -> Item | None:
        """The item under ``namespace``/``key``, if any."""
        record = self.data.get(namespace, {}).get(key)
        return record.item if record is not None else None

    # -- expiry -------------------------------------------------------------------------

    def refresh(self, namespace: Namespace, key: str, now: float) -> None:
        """Restart the TTL of the item (a refreshing read); nothing if it has none."""
        record = self.record(namespace, key)
        if record is not None and record.ttl is not None:
            record.expires_at = expiry(record.ttl, now)
            self.expiries.push(record.expires_at, namespace, key)

    def expired(self, now: float) -> list[tuple[Namespace, str]]:
        """The items whose time is up at `now` (their heap entries are consumed)."""
        out: list[tuple[Namespace, str]] = []
        for at, namespace, key in self.expiries.pop_due(now):
            record = self.record(namespace, key)
            # A refreshed or rewritten item has a newer entry; this one is stale.
            if record is not None and record.expires_at == at:
                out.append((namespace, key))
        return out

    def namespaces_under(self, prefix: Namespace) -> list[Namespace]:
        """Namespaces holding items that start with ``prefix``."""
        n = len(prefix)
        return [ns for ns in self.data if ns[:n] == prefix]

    def group_ids(self, namespaces: Sequence[Namespace]) -> list[int]:
        """The index group ids of ``namespaces`` (those that have one)."""
        return [self._ns_ids[ns] for ns in namespaces if ns in self._ns_ids]

    def has_unindexed(self, namespace: Namespace) -> bool:
        """Whether ``namespace`` holds items without a vector."""
        return namespace in self._unindexed

    def indexed_values(self) -> Iterator[tuple[Mapping[str, Any], list[int]]]:
        """(value, labels) of every item that has vectors (builds `FieldIndex` fields)."""
        for items in self.data.values():
            for record in items.values():
                if record.labels:
                    yield record.item.value, record.labels

    def list_namespaces(self, op: ListNamespacesOp) -> list[Namespace]:
        """`BaseStore.list_namespaces`: matching namespaces, cut to ``max_depth``, paged."""
        conditions = op.match_conditions or ()
        namespaces = [ns for ns in self.data if all(namespace_matches(c, ns) for c in conditions)]
        if op.max_depth is not None:
            namespaces = sorted({ns[: op.max_depth] for ns in namespaces})
        else:
            namespaces = sorted(namespaces)
        return namespaces[op.offset : op.offset + op.limit]

    def sweep(self, now: float, index: HnswIndex | None) -> int:
        """Delete the items whose time is up at `now`; how many."""
        gone = self.expired(now)
        self.apply([PreparedPut(ns, key, None, None) for ns, key in gone], index)
        return len(gone)

    # -- writes -------------------------------------------------------------------------

    def apply(self, prepared: Sequence[PreparedPut], index: HnswIndex | None) -> None:
        """Apply puts and deletes: items updated in place keep ``created_at`` and reuse
        their own labels first; the new vectors go to ``index`` in one write."""
        now = datetime.now(UTC)
        labels: list[int] = []
        groups: list[int] = []
        rows: list[FloatArray] = []
        for put in prepared:
            items = self.data.get(put.namespace)
            old = items.get(put.key) if items is not None else None
            old_labels = old.labels if old is not None else []
            if old is not None and old_labels:
                self.field_index.remove(old.item.value, old_labels)
            if put.value is None:
                if old is not None and items is not None:
                    self._release(old_labels, index)
                    self._count_unindexed(put.namespace, -1 if not old_labels else 0)
                    del items[put.key]
                    if not items:
                        del self.data[put.namespace]
                continue
            n_new = 0 if put.vectors is None else len(put.vectors)
            if index is not None and n_new:
                # Reuse the item's own labels first (update in place), then free or new ones.
                keep = old_labels[:n_new]
                self._release(old_labels[n_new:], index)
                new_labels = keep + index.allocate(n_new - len(keep))
            else:
                self._release(old_labels, index)
                new_labels = []
            created = old.item.created_at if old is not None else now
            record = Record(
                Item(value=put.value, key=put.key, namespace=put.namespace,
                     created_at=created, updated_at=now),
                new_labels, put.ttl, expiry(put.ttl, self.clock()),
            )  # fmt: skip
            self.expiries.push(record.expires_at, put.namespace, put.key)
            if items is None:
                items = self.data[put.namespace] = {}
            group = self._namespace_id(put.namespace)
            items[put.key] = record
            self._count_unindexed(
                put.namespace, (not new_labels) - (old is not None and not old_labels)
            )
            if new_labels:
                assert put.vectors is not None
                for label in new_labels:
                    self.owners[label] = record
                self.field_index.add(put.value, new_labels)
                labels.extend(new_labels)
                groups.extend([group] * len(new_labels))
                rows.append(put.vectors)
        if labels and index is not None:
            index.write(labels, np.concatenate(rows).astype(np.float32, copy=False), groups)

    def _release(self, labels: list[int], index: HnswIndex | None) -> None:
        if labels and index is not None:
            index.release(labels)
            for label in labels:
                self.owners.pop(label, None)

    def _count_unindexed(self, namespace: Namespace, delta: int) -> None:
        if delta:
            count = self._unindexed.get(namespace, 0) + delta
            if count > 0:
                self._unindexed[namespace] = count
            else:
                self._unindexed.pop(namespace, None)

    def _namespace_id(self, namespace: Namespace) -> int:
        ns_id = self._ns_ids.get(namespace)
        if ns_id is None:
            ns_id = self._ns_ids[namespace] = len(self._ns_list)
            self._ns_list.append(namespace)
        return ns_id

    # -- snapshots ----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The table as plain data for a snapshot's meta (``namespaces`` and ``items``)."""
        records = [
            [self._ns_ids[ns], key, rec.item.value, rec.item.created_at,
             rec.item.updated_at, rec.labels, rec.ttl, rec.expires_at]
            for ns, items in self.data.items()
            for key, rec in items.items()
        ]  # fmt: skip
        return {"namespaces": [list(ns) for ns in self._ns_list], "items": records}

    @classmethod
    def restore(cls, meta: Mapping[str, Any]) -> ItemTable:
        """A table rebuilt from what `dump` wrote."""
        table = cls()
        table._ns_list = [tuple(ns) for ns in meta["namespaces"]]
        table._ns_ids = {ns: i for i, ns in enumerate(table._ns_list)}
        for i, (ns_id, key, value, created, updated, labels, *expiring) in enumerate(meta["items"]):
            pause_now(i)  # restored in a background thread: let the event loop run
            ns = table._ns_list[ns_id]
            ttl, expires_at = expiring if expiring else (None, None)  # older snapshots
            record = Record(Item(value=value, key=key, namespace=ns, created_at=created,
                                 updated_at=updated), list(labels), ttl, expires_at)  # fmt: skip
            table.data.setdefault(ns, {})[key] = record
            table.expiries.push(expires_at, ns, key)
            for label in labels:
                table.owners[label] = record
            if not labels:
                table._count_unindexed(ns, 1)
        return table
