"""What a node (or run) span's own work added up to, as attributes of that span.

A deal review makes a dozen cache look-ups of a few microseconds each and a dozen
warehouse statements of about a millisecond. A span or an event for each cost more than
the look-up itself, and most of tracing's cost on a review (cleaned attributes, locks,
objects kept until export). Instead, a node or run span carries a `SpanTally` in the
context it makes current, and the work done while that span is current adds to it:

* cache look-ups are counted: ``sophia.cache.lookups`` and ``.duration_ms``, and the keys
  found or not in ``.l1_hits``, ``.l2_hits``, ``.misses``, ``.coalesced`` (zeros left out);
* each warehouse statement is an event of the span (``db.query``: the SQL with its
  placeholders, rows, duration, pool wait; see `stores.warehouse.statements`) and is
  counted: ``sophia.db.statements``, ``sophia.db.rows``, ``sophia.db.duration_ms``.

The totals are set when the span ends (only those with something to count). Work under
any other span (a server request, a span of the caller's own, a statement several nodes
share) has no tally of its span (`current_tally` is None) and is recorded as before: a
cache event, a statement span.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span

__all__ = ["STATEMENT_EVENT", "SpanTally", "current_tally", "with_tally"]

STATEMENT_EVENT = "db.query"
"""The event a node's own warehouse statement is, on the node's span."""

_TALLY = otel_context.create_key("sophia-span-tally")


class SpanTally:
    """Totals of the cache look-ups and statements made while one span was current."""

    __slots__ = (
        "coalesced",
        "db_ms",
        "l1_hits",
        "l2_hits",
        "lookup_ms",
        "lookups",
        "misses",
        "rows",
        "span",
        "statements",
    )  # fmt: skip

    def __init__(self, span: Span) -> None:
        self.span = span
        self.lookups = self.l1_hits = self.l2_hits = self.misses = self.coalesced = 0
        self.statements = self.rows = 0
        self.lookup_ms = self.db_ms = 0.0

    def add_lookup(
        self, *, l1_hits: int = 0, l2_hits: int = 0, misses: int = 0, coalesced: int = 0,
        duration_ms: float,
    ) -> None:  # fmt: skip
        """Count one cache look-up (of one key or a batch) and where its keys were found."""
        self.lookups += 1
        self.l1_hits += l1_hits
        self.l2_hits += l2_hits
        self.misses += misses
        self.coalesced += coalesced
        self.lookup_ms += duration_ms

    def add_statement(self, rows: int, duration_ms: float) -> None:
        """Count one warehouse statement and the rows it returned."""
        self.statements += 1
        self.rows += rows
        self.db_ms += duration_ms

    def attributes(self) -> dict[str, Any]:
        """The totals as span attributes; a count that is zero is left out (each attribute
        costs the span's end a few microseconds), as is a kind of work that did not happen."""
        totals: dict[str, Any] = {}
        if self.lookups:
            totals["sophia.cache.lookups"] = self.lookups
            totals["sophia.cache.duration_ms"] = round(self.lookup_ms, 3)
            found = (("l1_hits", self.l1_hits), ("l2_hits", self.l2_hits),
                     ("misses", self.misses), ("coalesced", self.coalesced))  # fmt: skip
            for name, count in found:
                if count:
                    totals[f"sophia.cache.{name}"] = count
        if self.statements:
            totals["sophia.db.statements"] = self.statements
            totals["sophia.db.rows"] = self.rows
            totals["sophia.db.duration_ms"] = round(self.db_ms, 3)
        return totals


def with_tally(ctx: otel_context.Context, tally: SpanTally) -> otel_context.Context:
    """``ctx`` carrying ``tally`` (for the span that ``tally`` belongs to)."""
    return otel_context.set_value(_TALLY, tally, ctx)


def current_tally() -> SpanTally | None:
    """The tally of the current span, if that span keeps one (node and run spans do).

    None when tracing is off, or when the current span is not the tally's owner (a span
    started inside a node keeps none): the caller then records its work as before.
    """
    tally = otel_context.get_value(_TALLY)
    if isinstance(tally, SpanTally) and tally.span is trace.get_current_span():
        return tally
    return None
