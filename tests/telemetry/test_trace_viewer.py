"""The JSON-lines span file and the waterfall viewer that reads it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from rich.console import Console

import telemetry
from stores.errors import SophiaError
from telemetry.file_exporter import JsonLinesSpanExporter, existing_trace_files
from telemetry.trace_file import find_trace, load_spans, load_trace, trace_spans

tracer = trace.get_tracer("tests.viewer")


async def _run(run_id: str, fail_slack: bool = True) -> str:
    barrier = asyncio.Event()
    inside: set[str] = set()

    async def agent(name: str) -> None:
        async with telemetry.node_span(name, superstep=1):
            with tracer.start_as_current_span(f"{name}.query"):
                inside.add(name)
                if len(inside) == 2:
                    barrier.set()
                await asyncio.wait_for(barrier.wait(), timeout=10)
            if fail_slack and name == "slack":
                raise RuntimeError("slack is down")

    with telemetry.run_span("deal_review", run_id):
        trace_id = telemetry.current_trace_id()
        await asyncio.gather(agent("hubspot"), agent("slack"), return_exceptions=True)
        with telemetry.node_span("synthesis", superstep=2), telemetry.monitor("syn", 0.0):
            pass
    assert trace_id is not None
    return trace_id


def _console() -> Console:
    return Console(file=None, width=140, color_system=None, record=True, force_terminal=False)


async def test_file_exporter_writes_json_lines(tmp_path: Path) -> None:
    path = telemetry.trace_file_path(tmp_path / "data")
    with telemetry.configure(file_path=path, prometheus=False, service_name="sophia-file"):
        trace_id = await _run("run-file")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 6
    by_name = {r["name"]: r for r in records}
    root = by_name["deal_review"]
    assert root["parent_span_id"] is None and root["trace_id"] == trace_id
    assert root["attributes"] == {
        "sophia.graph": "deal_review",
        "sophia.run_id": "run-file",
        "sophia.outcome": "ok",  # the failed branch was caught by gather: the run completed
    }
    assert by_name["slack"]["parent_span_id"] == root["span_id"]
    assert by_name["slack.query"]["parent_span_id"] == by_name["slack"]["span_id"]
    assert by_name["slack"]["status"]["code"] == "ERROR"
    assert by_name["slack"]["events"][0]["name"] == "exception"
    assert by_name["synthesis"]["events"][0]["name"] == "sophia.threshold_breach"
    for r in records:
        assert len(r["trace_id"]) == 32 and len(r["span_id"]) == 16
        assert r["service_name"] == "sophia-file"
        assert r["start_ns"] <= r["end_ns"]


async def test_viewer_renders_tree_in_order_and_marks_errors(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    with telemetry.configure(file_path=path, prometheus=False):
        first = await _run("run-1")
        second = await _run("run-2", fail_slack=False)

    console = _console()
    view = telemetry.render_trace(path, "run-1", console=console)
    text = console.export_text()
    assert view.trace_id == first and view.run_id == "run-1"
    assert view.span_count == 6 and view.error_count == 1
    lines = text.splitlines()
    order = ["deal_review", "hubspot", "hubspot.query", "slack", "slack.query", "synthesis"]
    positions = [next(i for i, ln in enumerate(lines) if f" {n} " in f" {ln} ") for n in order]
    assert positions == sorted(positions), text
    slack_line = lines[positions[3]]
    assert "✗ slack" in slack_line and "├─" in slack_line
    assert "error: RuntimeError: slack is down" in text
    assert "✗ hubspot" not in text
    assert "synthesis ⚠" in text  # threshold breach event
    assert "└─ synthesis" in text
    # the two agents' bars overlap on the time axis
    bar_cols = [{i for i, ch in enumerate(lines[positions[k]]) if ch == "█"} for k in (1, 3)]
    assert bar_cols[0] & bar_cols[1]

    last = _console()
    assert telemetry.render_trace(path, console=last).trace_id == second  # no argument: last run
    by_trace = _console()
    assert telemetry.render_trace(path, first, console=by_trace).run_id == "run-1"
    assert telemetry.render_trace(path, first[:10], console=_console()).trace_id == first
    assert "failed" not in last.export_text()


def test_viewer_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(telemetry.TraceNotFoundError, match="no span file"):
        telemetry.render_trace(tmp_path / "missing.jsonl")
    path = tmp_path / "t.jsonl"
    path.write_text("not json\n")
    with pytest.raises(telemetry.TraceNotFoundError, match="no spans"):
        telemetry.render_trace(path, console=_console())
    with telemetry.configure(file_path=path, prometheus=False), telemetry.run_span("g", "r-x"):
        pass
    with pytest.raises(telemetry.TraceNotFoundError, match="'nope'"):
        telemetry.render_trace(path, "nope", console=_console())
    assert len(load_spans(path)) == 1  # the bad line is skipped


def test_file_rotates_and_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    exporter = JsonLinesSpanExporter(path, max_bytes=4096, backups=2)
    with telemetry.configure(prometheus=False) as tel:
        tel.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        for i in range(300):
            with telemetry.run_span("g", f"run-{i}"):
                pass
    files = existing_trace_files(path)
    assert [f.name for f in files] == ["traces.jsonl.2", "traces.jsonl.1", "traces.jsonl"]
    for f in files:
        assert f.stat().st_size < 4096 + 1024  # rotated once it reached max_bytes
    spans = load_spans(path)
    assert 0 < len(spans) < 300  # the oldest were dropped
    newest = find_trace(spans)
    assert newest[0]["attributes"]["sophia.run_id"] == "run-299"
    with pytest.raises(ValueError, match="max_bytes"):
        JsonLinesSpanExporter(path, max_bytes=10)


async def test_one_reader_finds_a_trace_by_id_or_by_hex_run_id(tmp_path: Path) -> None:
    """The dashboard's exact lookup and the viewer's lookup read the file the same way."""
    path = tmp_path / "traces.jsonl"
    hex_run_id = "ab" * 16  # a run id looks like a trace id: both lookups must work
    with telemetry.configure(file_path=path, prometheus=False):
        first = await _run(hex_run_id)
        second = await _run("run-2", fail_slack=False)
    spans = trace_spans(path, first)
    assert {s["trace_id"] for s in spans} == {first} and len(spans) == 6
    assert [s["start_ns"] for s in spans] == sorted(s["start_ns"] for s in spans)
    assert spans[0]["name"] == "deal_review"
    assert [s["span_id"] for s in load_trace(path, first)] == [s["span_id"] for s in spans]
    assert {s["trace_id"] for s in load_trace(path, hex_run_id)} == {first}
    assert {s["trace_id"] for s in load_trace(path)} == {second}  # the last run
    with pytest.raises(telemetry.TraceNotFoundError, match="not in the span file"):
        trace_spans(path, "0" * 32)


def test_trace_errors_are_sophia_errors(tmp_path: Path) -> None:
    """`stores.errors.SophiaError` is the root telemetry's errors derive from."""
    assert telemetry.SophiaError is SophiaError
    with pytest.raises(SophiaError, match="no span file"):
        trace_spans(tmp_path / "missing.jsonl", "a" * 32)
    with pytest.raises(LookupError):
        load_trace(tmp_path / "missing.jsonl")


def test_span_record_keeps_every_field(tmp_path: Path) -> None:
    """The line written for a span (orjson) holds what the viewer and other readers use:
    ids, parent, kind, times, attributes with sequences as arrays, events, status."""
    path = tmp_path / "traces.jsonl"
    exporter = JsonLinesSpanExporter(path)
    with telemetry.configure(prometheus=False, service_name="svc-x") as tel:
        tel.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        with telemetry.run_span("g", "run-f") as root:
            with tracer.start_as_current_span("child", kind=trace.SpanKind.CLIENT) as child:
                child.set_attributes({"names": ("a", "é"), "n": 3, "ok": True, "ms": 0.5})
                child.add_event("cache.get_many", {"sophia.cache.tier": "l1", "hits": 2})
                child.set_status(trace.Status(trace.StatusCode.ERROR, "went wrong"))
    lines = path.read_bytes().splitlines()
    records = {r["name"]: r for r in map(json.loads, lines)}
    child_record, root_record = records["child"], records["g"]
    assert root_record["parent_span_id"] is None
    assert child_record["parent_span_id"] == format(root.get_span_context().span_id, "016x")
    assert child_record["trace_id"] == format(root.get_span_context().trace_id, "032x")
    assert child_record["span_id"] == format(child.get_span_context().span_id, "016x")
    assert child_record["kind"] == "CLIENT"
    assert child_record["start_ns"] <= child_record["end_ns"]
    assert child_record["attributes"] == {"names": ["a", "é"], "n": 3, "ok": True, "ms": 0.5}
    [event] = child_record["events"]
    assert event["name"] == "cache.get_many"
    assert event["attributes"] == {"sophia.cache.tier": "l1", "hits": 2}
    assert isinstance(event["time_ns"], int)
    assert child_record["status"] == {"code": "ERROR", "description": "went wrong"}
    assert child_record["service_name"] == "svc-x"
    assert root_record["attributes"]["sophia.run_id"] == "run-f"


def test_a_nodes_statement_events_are_rows_under_it(tmp_path: Path) -> None:
    import time

    from telemetry.tally import STATEMENT_EVENT

    path = tmp_path / "traces.jsonl"
    query = {"db.query.text": "select * from deals", "db.collection.name": "deals"}
    with telemetry.configure(file_path=path, prometheus=False):
        with telemetry.run_span("review", "run-q"), telemetry.node_span("agent") as agent:
            now = time.time_ns()
            agent.add_event(STATEMENT_EVENT, {**query, "sophia.duration_ms": 2.0}, now)
            failed = {**query, "sophia.duration_ms": 1.0, "error.type": "QueryError"}
            agent.add_event(STATEMENT_EVENT, failed, now + 3_000_000)
            agent.add_event("memory.search", {"sophia.duration_ms": 5.0})  # not a row
    console = _console()
    view = telemetry.render_trace(path, "run-q", console=console)
    lines = console.export_text().splitlines()
    assert view.span_count == 2  # the rows are events, not spans
    row = next(i for i, ln in enumerate(lines) if "agent" in ln)
    assert "├─ SELECT deals" in lines[row + 1] and "2.0" in lines[row + 1]
    assert "└─ ✗ SELECT deals" in lines[row + 2]
    assert "error: QueryError" in lines[row + 3] and len(lines) == row + 4  # no search row
