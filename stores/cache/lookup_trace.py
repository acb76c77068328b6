"""One cache look-up on the caller's trace: totals of its node span, else an event.

A look-up takes microseconds: it is never a span of its own. Made while a node (or run)
span is current, it adds to that span's totals (`telemetry.tally`); under any other
recording span (a server request, a caller's own span) it is a ``cache.<operation>``
event of that span; with tracing off, nothing.
"""

from __future__ import annotations

from opentelemetry import trace

from telemetry.tally import current_tally

__all__ = ["trace_lookup"]


def trace_lookup(
    operation: str,
    namespace: str,
    tier: str,
    duration_ms: float,
    *,
    l1_hits: int = 0,
    l2_hits: int = 0,
    misses: int = 0,
    coalesced: int = 0,
) -> None:
    """Record a look-up whose keys were found in L1 / L2, missed, or joined another
    caller's load (``coalesced``); ``tier`` names where it was answered (l1, l2, miss)."""
    tally = current_tally()
    if tally is not None:
        tally.add_lookup(
            l1_hits=l1_hits, l2_hits=l2_hits, misses=misses, coalesced=coalesced,
            duration_ms=duration_ms,
        )  # fmt: skip
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(
            f"cache.{operation}",
            {
                "sophia.cache.namespace": namespace,
                "sophia.cache.tier": tier,
                "sophia.cache.hits": l1_hits + l2_hits,
                "sophia.cache.misses": misses,
                "sophia.cache.coalesced": coalesced,
                "sophia.cache.duration_ms": duration_ms,
            },
        )
