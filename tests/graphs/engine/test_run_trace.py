"""One deal review as one trace: a span per node, a node's own statements and look-ups
as events and totals of its span, and a statement that several nodes waited on as a span
linked to each of them."""

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
    # no span for a look-up or a search: the memory search is an event, look-ups totals
    assert not [s for s in spans if s.name.startswith(("cache.", "memory.search"))]
    assert "memory.search" in {e.name for s in spans for e in s.events}
    assert nodes["gong"].attributes["sophia.cache.lookups"] >= 1
    # each source node's own statements: db.query events with the SQL, and their totals
    for name in ("gong", "slack", "linear"):
        queries = [e for e in nodes[name].events if e.name == "db.query"]
        assert queries, f"no statement events on {name}"
        assert all(" IN (?" in e.attributes["db.query.text"] for e in queries)
        rows = sum(e.attributes["db.response.returned_rows"] for e in queries)
        assert nodes[name].attributes["sophia.db.statements"] == len(queries)
        assert nodes[name].attributes["sophia.db.rows"] == rows
    # a statement several nodes waited on is a span under the run, linked to each
    statements = [s for s in spans if s.name.startswith("SELECT")]
    for statement in statements:
        linked = {by_id[link.context.span_id].name for link in statement.links}
        assert statement.parent.span_id == root.context.span_id  # type: ignore[union-attr]
        assert len(linked) >= 2 and linked <= set(nodes)
    # the deals' row is read by the HubSpot agent and the memory node in one statement
    (deals,) = [s for s in statements if s.name == "SELECT hubspot_deals"]
    assert {by_id[link.context.span_id].name for link in deals.links} >= {"hubspot", "memory"}


async def test_trace_statements_spans_keeps_a_span_for_every_statement(
    indexed_settings: Settings, span_exporter: Any
) -> None:
    settings = indexed_settings.model_copy(update={"trace_statements": "spans"})
    async with Engine(settings) as engine:
        span_exporter.clear()
        await engine.invoke("deal_review", {"deal_ids": ["D-00005"]})
    spans = span_exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    tables = {s.attributes["db.collection.name"] for s in spans if s.name.startswith("SELECT")}
    assert {"gong_calls", "slack_messages", "linear_issues"} <= tables
    assert not [e for s in spans for e in s.events if e.name == "db.query"]
    (calls,) = [s for s in spans if s.name == "SELECT gong_calls"]
    assert by_id[calls.parent.span_id].name == "gong"  # type: ignore[union-attr]


async def test_opening_the_engine_is_one_trace_of_its_own(
    settings: Settings, span_exporter: Any
) -> None:
    async with Engine(settings):
        pass
    spans = span_exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["engine.open"]  # no stray root SELECT spans
    assert len({s.context.trace_id for s in spans}) == 1
