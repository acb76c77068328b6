"""run_span / node_span: one trace per run, correct parents in tasks and threads, errors."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import telemetry
from tests.telemetry.otel_capture import Captured

tracer = trace.get_tracer("tests.spans")  # obtained before any configure(): must still work

DETACH_FAILURE = "Failed to detach context"


def _parent_id(span: Any) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_detach_failure_is_detectable(caplog: pytest.LogCaptureFixture) -> None:
    """Control for the checks below: the naive pattern (attach in one context, detach in
    another) does log the message we assert is absent."""
    from opentelemetry import context as otel_context

    caplog.set_level(logging.DEBUG)
    token = contextvars.copy_context().run(
        otel_context.attach, trace.set_span_in_context(trace.INVALID_SPAN)
    )
    otel_context.detach(token)
    assert DETACH_FAILURE in caplog.text


async def test_spans_in_asyncio_tasks_nest_under_their_node(
    captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    names = ["hubspot", "gong", "slack", "linear"]
    entered = 0
    all_in = asyncio.Event()

    async def agent(name: str) -> None:
        nonlocal entered
        async with telemetry.node_span(name, superstep=1, attempt=1):
            with tracer.start_as_current_span(f"{name}.query"):
                entered += 1
                if entered == len(names):
                    all_in.set()
                # every agent waits until all four are inside their span: overlap is certain
                await asyncio.wait_for(all_in.wait(), timeout=10)

    run = telemetry.run_span("deal_review", "run-async")
    with run as root_span:
        assert telemetry.current_trace_id() == run.trace_id
        assert root_span is run.span
        await asyncio.gather(*(asyncio.create_task(agent(n)) for n in names))
    trace_id = run.trace_id

    root = captured.one("deal_review")
    assert trace_id == format(root.context.trace_id, "032x")
    assert root.parent is None
    assert {s.context.trace_id for s in captured.spans()} == {root.context.trace_id}
    nodes = [captured.one(n) for n in names]
    for name, node in zip(names, nodes, strict=True):
        assert _parent_id(node) == root.context.span_id
        assert node.attributes is not None
        assert node.attributes["sophia.node"] == name
        assert node.attributes["langgraph.step"] == 1
        assert node.attributes["sophia.attempt"] == 1
        assert node.attributes["sophia.outcome"] == "ok"
        child = captured.one(f"{name}.query")
        assert _parent_id(child) == node.context.span_id
    # siblings overlap: each started before every other one ended
    for a in nodes:
        for b in nodes:
            assert a.start_time is not None and b.end_time is not None
            assert a.start_time < b.end_time
    assert DETACH_FAILURE not in caplog.text


def test_spans_in_threads_with_copied_context_nest(captured: Captured) -> None:
    barrier = threading.Barrier(3, timeout=10)

    def sync_node(name: str) -> None:
        with telemetry.node_span(name, superstep=2), tracer.start_as_current_span(f"{name}.cache"):
            barrier.wait()

    with telemetry.run_span("g", "run-threads"):
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(sync_node, n))
            for n in ("a", "b", "c")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    root = captured.one("g")
    for name in ("a", "b", "c"):
        node = captured.one(name)
        assert _parent_id(node) == root.context.span_id
        assert _parent_id(captured.one(f"{name}.cache")) == node.context.span_id
    assert len({s.context.trace_id for s in captured.spans()}) == 1


def test_failed_node_records_error_and_reraises(captured: Captured) -> None:
    with pytest.raises(ValueError, match="boom"), telemetry.run_span("g", "run-err"):
        with telemetry.node_span("ok_node"):
            pass
        with telemetry.node_span("bad_node", superstep=1):
            raise ValueError("boom")
    bad = captured.one("bad_node")
    assert bad.status.status_code is StatusCode.ERROR
    assert bad.status.description == "ValueError: boom"
    assert bad.attributes is not None and bad.attributes["sophia.outcome"] == "error"
    assert bad.attributes["error.type"] == "ValueError"
    assert [e.name for e in bad.events] == ["exception"]
    assert captured.one("ok_node").status.status_code is StatusCode.UNSET
    assert captured.one("g").status.status_code is StatusCode.ERROR


async def test_cancelled_and_control_flow_outcomes(captured: Captured) -> None:
    class GraphInterrupt(Exception):  # the name LangGraph uses for an interrupt
        pass

    async def slow() -> None:
        async with telemetry.node_span("slow"):
            await asyncio.sleep(30)

    task = asyncio.create_task(slow())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(GraphInterrupt), telemetry.node_span("asks_human"):
        raise GraphInterrupt()
    slow_span = captured.one("slow")
    assert slow_span.attributes is not None
    assert slow_span.attributes["sophia.outcome"] == "cancelled"
    interrupted = captured.one("asks_human")
    assert interrupted.attributes is not None
    assert interrupted.attributes["sophia.outcome"] == "interrupted"
    assert interrupted.status.status_code is StatusCode.UNSET


def test_run_span_starts_a_new_trace_inside_another_span(captured: Captured) -> None:
    with tracer.start_as_current_span("http.request") as outer:
        with telemetry.run_span("g", "run-inner"):
            trace_id = telemetry.current_trace_id()
        with telemetry.run_span("g", "run-nested", new_trace=False):
            nested_id = telemetry.current_trace_id()
    assert trace_id != format(outer.get_span_context().trace_id, "032x")
    assert nested_id == format(outer.get_span_context().trace_id, "032x")
    assert captured.by_name("g")[0].attributes["sophia.run_id"] == "run-inner"  # type: ignore[index]


def test_run_span_continues_a_remote_callers_trace(captured: Captured) -> None:
    from opentelemetry import context as otel_context
    from opentelemetry.propagate import extract

    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    caller_span = "00f067aa0ba902b7"
    token = otel_context.attach(extract({"traceparent": f"00-{caller_trace}-{caller_span}-01"}))
    try:
        with telemetry.run_span("g", "run-remote"):
            trace_id = telemetry.current_trace_id()
    finally:
        otel_context.detach(token)
    root = captured.one("g")
    assert trace_id == caller_trace
    assert root.parent is not None and format(root.parent.span_id, "016x") == caller_span


def test_outcome_follows_a_status_set_inside(captured: Captured) -> None:
    """A node wrapper that catches its error and marks the span keeps outcome=error."""
    with telemetry.node_span("caught") as span:
        try:
            raise TimeoutError("slow source")
        except TimeoutError as exc:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, "timed out")
    caught = captured.one("caught")
    assert caught.attributes is not None and caught.attributes["sophia.outcome"] == "error"
    assert caught.status.status_code is StatusCode.ERROR


def test_tracing_off_gives_no_trace_id() -> None:
    telemetry.shutdown()
    run = telemetry.run_span("g", "run-off")
    with run as span:
        assert telemetry.current_trace_id() is None
        assert not span.is_recording()
    assert run.trace_id is None


def test_node_span_is_single_use(captured: Captured) -> None:
    span = telemetry.node_span("once")
    with span:
        pass
    with pytest.raises(RuntimeError, match="single-use"), span:
        pass


class GraphState(TypedDict, total=False):
    deal: str
    facts: Annotated[list[str], operator.add]


async def test_real_langgraph_parallel_and_sync_nodes(
    captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    """The way the Engine will use it: every node body wrapped in node_span."""
    caplog.set_level(logging.DEBUG)
    started: set[str] = set()
    all_started = asyncio.Event()
    agents = ["hubspot", "gong", "slack", "linear"]

    def make_agent(name: str) -> Any:
        async def agent(state: GraphState) -> GraphState:
            async with telemetry.node_span(name, superstep=1):
                with tracer.start_as_current_span("warehouse.query") as q:
                    q.set_attribute("sophia.for", name)
                    started.add(name)
                    if len(started) == len(agents):
                        all_started.set()
                    await asyncio.wait_for(all_started.wait(), timeout=10)
                if name == "slack":
                    raise RuntimeError("slack is down")
            return {"facts": [name]}

        async def guarded(state: GraphState) -> GraphState:
            try:
                return await agent(state)
            except RuntimeError:
                return {"facts": [f"{name}:failed"]}

        return guarded

    def synthesis(state: GraphState) -> GraphState:  # sync: LangGraph runs it in a thread
        with telemetry.node_span("synthesis", superstep=2):
            with tracer.start_as_current_span("cache.get") as c:
                c.set_attribute("sophia.for", "synthesis")
            return {"facts": ["synthesis"]}

    builder = StateGraph(GraphState)
    for name in agents:
        builder.add_node(name, make_agent(name))
        builder.add_edge(START, name)
        builder.add_edge(name, "synthesis")
    builder.add_node("synthesis", synthesis)
    builder.add_edge("synthesis", END)
    graph = builder.compile()

    with telemetry.run_span("deal_review", "run-lg"):
        trace_id = telemetry.current_trace_id()
        result = await graph.ainvoke({"deal": "d1", "facts": []})
    assert "slack:failed" in result["facts"] and "synthesis" in result["facts"]

    spans = captured.spans()
    root = captured.one("deal_review")
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
    node_spans = {s.name: s for s in spans if s.attributes and "sophia.node" in s.attributes}
    assert set(node_spans) == {*agents, "synthesis"}
    for node in node_spans.values():
        assert _parent_id(node) == root.context.span_id
    for child in spans:
        if child.attributes and "sophia.for" in child.attributes:
            owner = node_spans[str(child.attributes["sophia.for"])]
            assert _parent_id(child) == owner.context.span_id
    assert node_spans["slack"].status.status_code is StatusCode.ERROR
    for a in agents:
        for b in agents:
            assert node_spans[a].start_time < node_spans[b].end_time  # type: ignore[operator]
    assert DETACH_FAILURE not in caplog.text


def _streaming_graph(agents: list[str]) -> Any:
    def make(name: str) -> Any:
        async def agent(state: GraphState) -> GraphState:
            async with telemetry.node_span(name, superstep=1):
                with tracer.start_as_current_span(f"{name}.query"):
                    await asyncio.sleep(0)
            return {"facts": [name]}

        return agent

    def synthesis(state: GraphState) -> GraphState:
        with telemetry.node_span("synthesis", superstep=2):
            return {"facts": ["synthesis"]}

    builder = StateGraph(GraphState)
    for name in agents:
        builder.add_node(name, make(name))
        builder.add_edge(START, name)
        builder.add_edge(name, "synthesis")
    builder.add_node("synthesis", synthesis)
    builder.add_edge("synthesis", END)
    return builder.compile()


async def _stream_run(graph: Any, run_id: str, stop_after: int | None) -> list[Any]:
    """What the Engine's stream() does: the run span is never attached across a yield."""

    async def engine_stream() -> Any:
        run = telemetry.run_span("deal_review", run_id)
        assert run.start() == run.trace_id is not None
        try:
            source = graph.astream({"deal": "d", "facts": []}, stream_mode="updates")
            async for update in telemetry.iterate_in_span(run.span, source):
                yield update
        except BaseException as exc:
            run.finish(exc)
            raise
        run.finish()

    updates = []
    stream = engine_stream()
    async for update in stream:
        # the consumer makes its own spans between updates: they must not join the run
        with tracer.start_as_current_span("consumer.work"):
            updates.append(update)
        if stop_after is not None and len(updates) >= stop_after:
            break
    await stream.aclose()
    return updates


@pytest.mark.parametrize("stop_after", [None, 1])
async def test_streamed_run_is_one_trace_even_if_abandoned(
    captured: Captured, caplog: pytest.LogCaptureFixture, stop_after: int | None
) -> None:
    caplog.set_level(logging.DEBUG)
    agents = ["hubspot", "gong", "slack", "linear"]
    updates = await _stream_run(_streaming_graph(agents), "run-stream", stop_after)
    assert len(updates) == (5 if stop_after is None else 1)

    root = captured.one("deal_review")
    run_trace = root.context.trace_id
    node_spans = [s for s in captured.spans() if s.attributes and "sophia.node" in s.attributes]
    assert node_spans
    for node in node_spans:
        assert node.context.trace_id == run_trace
        assert _parent_id(node) == root.context.span_id
    for s in captured.spans():
        if s.name.endswith(".query"):
            assert s.context.trace_id == run_trace
    for consumer in captured.by_name("consumer.work"):
        assert consumer.context.trace_id != run_trace
    expected = "ok" if stop_after is None else "cancelled"
    assert root.attributes is not None and root.attributes["sophia.outcome"] == expected
    assert DETACH_FAILURE not in caplog.text


def test_client_span_is_current_child_with_its_attributes_and_links(captured: Captured) -> None:
    with telemetry.run_span("g", "run-c"), telemetry.node_span("gong") as node:
        caller = node.get_span_context()
        with telemetry.client_span(
            tracer, "SELECT calls", {"db.system.name": "duckdb"}, links=(trace.Link(caller),)
        ) as span:
            span.set_attributes({"db.response.returned_rows": 2})
            with tracer.start_as_current_span("inside"):
                pass
    client = captured.one("SELECT calls")
    assert client.kind is trace.SpanKind.CLIENT
    assert _parent_id(client) == captured.one("gong").context.span_id
    assert _parent_id(captured.one("inside")) == client.context.span_id  # made current
    assert dict(client.attributes or {}) == {
        "db.system.name": "duckdb",
        "db.response.returned_rows": 2,
    }  # no sophia.outcome on success: a statement has its monitor's outcome
    assert [link.context.span_id for link in client.links] == [caller.span_id]
    assert client.status.status_code is StatusCode.UNSET


def test_failed_client_span_records_the_error(captured: Captured) -> None:
    with pytest.raises(LookupError, match="gone"), telemetry.run_span("g", "run-e"):
        with telemetry.client_span(tracer, "SELECT x", {}):
            raise LookupError("gone")
    failed = captured.one("SELECT x")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == "LookupError"
    assert [e.name for e in failed.events] == ["exception"]
