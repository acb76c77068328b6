"""A node or run span's tally: only work done while that span is current counts in it."""

from __future__ import annotations

from opentelemetry import trace

import telemetry
from telemetry.tally import current_tally
from tests.telemetry.otel_capture import Captured


def test_no_tally_without_tracing() -> None:
    with telemetry.node_span("agent"):
        assert current_tally() is None


def test_a_span_started_inside_a_node_keeps_no_tally_of_the_nodes(captured: Captured) -> None:
    with telemetry.run_span("graph", "run-1") as run:
        tally = current_tally()
        assert tally is not None and tally.span is run
        with telemetry.node_span("agent") as node:
            node_tally = current_tally()
            assert node_tally is not None and node_tally.span is node
            with trace.get_tracer("tests").start_as_current_span("inner"):
                assert current_tally() is None  # its work is recorded on "inner" itself
            node_tally.add_statement(rows=3, duration_ms=1.5)
            node_tally.add_lookup(l1_hits=2, misses=1, duration_ms=0.25)
        assert current_tally() is tally
    spans = {s.name: s for s in captured.spans()}
    agent = spans["agent"].attributes or {}
    assert agent["sophia.db.statements"] == 1 and agent["sophia.db.rows"] == 3
    assert agent["sophia.cache.lookups"] == 1 and agent["sophia.cache.l1_hits"] == 2
    root = spans["graph"].attributes or {}
    assert not [k for k in root if k.startswith(("sophia.db.", "sophia.cache."))]
