"""A cache look-up on the caller's trace: totals of a node span, an event of any other."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

import telemetry
from stores.cache.lookup_trace import trace_lookup


def test_a_look_up_is_a_total_of_a_node_span_and_an_event_of_any_other(
    span_exporter: Any,
) -> None:
    trace_lookup("get_many", "api", "l1", 0.1, l1_hits=2)  # tracing's span: none current
    with telemetry.node_span("agent"):
        trace_lookup("get_many", "api", "miss", 0.2, l1_hits=1, misses=3)
        with trace.get_tracer("tests").start_as_current_span("request"):
            trace_lookup("get_or_load", "api", "l2", 0.3, l2_hits=1)
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    agent = spans["agent"]
    assert not agent.events
    assert agent.attributes["sophia.cache.lookups"] == 1
    assert agent.attributes["sophia.cache.misses"] == 3
    (event,) = spans["request"].events
    assert event.name == "cache.get_or_load"
    assert dict(event.attributes) == {
        "sophia.cache.namespace": "api", "sophia.cache.tier": "l2", "sophia.cache.hits": 1,
        "sophia.cache.misses": 0, "sophia.cache.coalesced": 0, "sophia.cache.duration_ms": 0.3,
    }  # fmt: skip
    assert "sophia.cache.lookups" not in (spans["request"].attributes or {})
