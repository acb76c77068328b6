"""One deal review as one trace: a span per node and per statement, look-ups as events,
and a statement that several nodes waited on linked to each of them."""

from __future__ import annotations

from typing import Any

from graphs.engine.engine import Engine
from stores.settings import Settings


async def test_a_review_is_one_trace_of_nodes_statements_and_events(
    indexed_settings: Settings, span_exporter: Any
) -> None:
    async with Engine(indexed_settings) as engine:
        assert await engine.memory_ready(60)
        await engine.invoke("deal_review", {"deal_ids": ["D-00001", "D-00002"]})  # warm
        span_exporter.clear()
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00003", "D-00004"]})
    spans = span_exporter.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {result["trace_id"]}
    by_id = {s.context.span_id: s for s in spans}
    (root,) = [s for s in spans if s.parent is None]
    nodes = {
        s.name: s
        for s in spans
        if s.parent is not None
        and s.parent.span_id == root.context.span_id
        and not s.name.startswith("SELECT")
    }
    assert {"hubspot", "gong", "slack", "linear", "memory", "synthesis"} <= set(nodes)
    statements = [s for s in spans if s.name.startswith("SELECT")]
    assert statements, "no statement spans"
    # cache and index look-ups are events on the spans that made them, not spans
    assert not [s for s in spans if s.name.startswith(("cache.", "memory.search"))]
    events = {e.name for s in spans for e in s.events}
    assert {"cache.get_many", "memory.search"} <= events
    for statement in statements:
        parent = by_id[statement.parent.span_id]  # type: ignore[union-attr]
        linked = {by_id[link.context.span_id].name for link in statement.links}
        if len(linked) >= 2:  # shared by several nodes: under the run, linked to each
            assert parent is root
            assert linked <= set(nodes)
        else:  # one node's statement nests under it
            assert parent.name in nodes and not linked
    # the deals' row is read by the HubSpot agent and the memory node in one statement
    (deals,) = [s for s in statements if s.name == "SELECT hubspot_deals"]
    assert {by_id[link.context.span_id].name for link in deals.links} >= {"hubspot", "memory"}


async def test_opening_the_engine_is_one_trace_of_its_own(
    settings: Settings, span_exporter: Any
) -> None:
    async with Engine(settings):
        pass
    spans = span_exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["engine.open"]  # no stray root SELECT spans
    assert len({s.context.trace_id for s in spans}) == 1
