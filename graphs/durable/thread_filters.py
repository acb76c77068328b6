"""Which threads a search or a count means: `ThreadFilter`, turned into one bound WHERE
clause of the ``sophia_threads`` table (`graphs.durable.threads`).

Every filter is SQL: the owner, the graphs a caller may use, ids, status, and JSON
containment (`graphs.durable.sql.Sql.contains`, jsonb ``@>`` semantics) of the thread's
metadata and of the values its last run ended with. Values are bound, never formatted;
column names and sort directions come from this module's constants only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from graphs.durable.sql import Sql, to_json

SortColumn = Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
SORT_COLUMNS: frozenset[str] = frozenset(
    {"thread_id", "status", "created_at", "updated_at", "state_updated_at"}
)


@dataclass(frozen=True)
class ThreadFilter:
    """Threads of `owner` (None: every owner) whose graph is one of `graphs` or not set
    yet (None: any graph), among `ids`, in `status`, whose metadata contains `metadata`
    and whose values contain `values` (None: no condition)."""

    owner: str | None = None
    graphs: Collection[str] | None = None
    ids: Sequence[str] | None = None
    status: str | None = None
    metadata: Mapping[str, Any] | None = None
    values: Mapping[str, Any] | None = None

    def where(self, sql: Sql) -> tuple[str, list[Any]] | None:
        """The WHERE clause and its values; None when no thread can match (no ids)."""
        clauses, params = ["1 = 1"], []
        if self.owner is not None:
            clauses.append("owner = ?")
            params.append(self.owner)
        if self.graphs is not None:
            names = sorted(self.graphs)
            marks = ", ".join("?" * len(names))
            clauses.append(f"(graph_id IS NULL OR graph_id IN ({marks}))" if names
                           else "graph_id IS NULL")  # fmt: skip
            params.extend(names)
        if self.ids is not None:
            if not self.ids:
                return None
            clauses.append(f"thread_id IN ({', '.join('?' * len(self.ids))})")
            params.extend(self.ids)
        if self.status is not None:
            clauses.append("status = ?")
            params.append(self.status)
        if self.metadata:
            clauses.append(sql.contains("metadata"))
            params.append(to_json(dict(self.metadata)))
        if self.values:
            clauses.append(sql.contains("state_values"))
            params.append(to_json(dict(self.values)))
        return " AND ".join(clauses), params


def order_by(sort_by: str | None, sort_order: str | None) -> str:
    """The ORDER BY clause: `sort_by` (default ``updated_at``), descending unless
    `sort_order` is ``asc``; the thread id breaks ties so pages do not overlap."""
    column = sort_by if sort_by in SORT_COLUMNS else "updated_at"
    direction = "ASC" if sort_order == "asc" else "DESC"
    return f" ORDER BY {column} {direction}, thread_id {direction}"
