"""The operations a `MemoryStore` batch accepts, checked as LangGraph's public methods
check them, and made ready to apply (`prepare_puts`).

`BaseStore.put`, `get`, `search` and `list_namespaces` validate their namespaces before
they build an op, but ops handed to `batch`/`abatch` directly skip those methods (and
`InMemoryStore` accepts anything there). LangGraph's SQL stores check every op they
execute; `checked` does the same, with the rules of the public methods: a label is a
non-empty string without ``.`` or NUL; a put names a non-empty namespace whose root is
not ``langgraph``. Namespaces given as lists (``store.search(["users", "a"])``) become
tuples, so a list prefix finds what the tuple would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    Op,
    PutOp,
    SearchOp,
    validate_op_namespace,
)

from stores.memory.embeddings import FieldEmbedder
from stores.memory.errors import InvalidNamespace
from stores.memory.hnsw import FloatArray
from stores.memory.items import Namespace, PreparedPut
from stores.memory.ttl import ttl_minutes


def checked(ops: Iterable[Op]) -> list[Op]:
    """`ops` with tuple namespaces; `InvalidNamespace` naming the first bad one."""
    out: list[Op] = []
    for op in ops:
        if isinstance(op, PutOp | GetOp):
            op = op._replace(namespace=_labels(op.namespace))
        elif isinstance(op, SearchOp):
            op = op._replace(namespace_prefix=_labels(op.namespace_prefix))
        elif isinstance(op, ListNamespacesOp) and op.match_conditions:
            op = op._replace(match_conditions=tuple(
                c._replace(path=_labels(c.path)) for c in op.match_conditions
            ))  # fmt: skip
        try:
            validate_op_namespace(op)
        except InvalidNamespaceError as exc:
            raise InvalidNamespace(str(exc)) from None
        if isinstance(op, PutOp) and op.value is not None:
            if not op.namespace:
                raise InvalidNamespace("a put needs a namespace: it cannot be empty")
            if op.namespace[0] == "langgraph":
                raise InvalidNamespace(
                    f'the root label of a namespace cannot be "langgraph": {op.namespace}'
                )
        out.append(op)
    return out


def _labels(namespace: Iterable[str]) -> tuple[str, ...]:
    if isinstance(namespace, str):  # a bare string would become one label per letter
        raise InvalidNamespace(
            f"a namespace is a tuple of labels, got the string {namespace!r}"
        )
    return tuple(namespace)


def queries_of(ops: Sequence[Op]) -> list[str]:
    """The distinct search queries of `ops`, in order (each embedded once)."""
    return list(dict.fromkeys(op.query for op in ops if isinstance(op, SearchOp) and op.query))


def dedupe_puts(ops: Sequence[Op]) -> list[PutOp]:
    """The puts of `ops`, the last one per item winning, in last-write order."""
    puts: dict[tuple[Namespace, str], PutOp] = {}
    for op in ops:
        if isinstance(op, PutOp):
            puts.pop((op.namespace, op.key), None)  # last write wins, in last-write order
            puts[(op.namespace, op.key)] = op
    return list(puts.values())


def bulk_puts(
    items: Iterable[tuple[Namespace, str, Mapping[str, Any]]],
    index: Literal[False] | list[str] | None,
    ttl: float | None,
) -> list[PutOp]:
    """The checked puts of a bulk load (`MemoryStore.put_many`), each with `ttl`."""
    puts = checked(PutOp(ns, str(k), dict(v), index=index, ttl=ttl) for ns, k, v in items)
    return [op for op in puts if isinstance(op, PutOp)]


def prepare_puts(
    puts: Sequence[PutOp], vectors: Mapping[str, FloatArray], embedder: FieldEmbedder | None
) -> list[PreparedPut]:
    """Each put with its item's vectors (by the embedder's texts) and TTL, or a delete."""
    prepared = []
    for op in puts:
        if op.value is None:
            prepared.append(PreparedPut(op.namespace, op.key, None, None))
            continue
        texts = embedder.texts(op) if embedder is not None else []
        rows = np.stack([vectors[t] for t in texts]) if texts else None
        prepared.append(
            PreparedPut(op.namespace, op.key, dict(op.value), rows, ttl_minutes(op.ttl))
        )
    return prepared
