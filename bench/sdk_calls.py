"""The same `langgraph-sdk` client script against `sophia serve` and `langgraph dev`.

Each call of the script is one SDK method with the arguments a platform would give it;
it counts as answered correctly when its answer has the shape LangGraph documents and
its effect can be read back (a deleted thread is gone, a copied thread has the state, a
stream carries the asked mode's events, ...). Both servers serve the one-node graph of
`bench.durable_graph`; `langgraph dev` comes from its own environment (see
`bench.durable`). The row reports calls answered correctly by each side; the list of
calls a side got wrong goes to stderr.

    python -m bench.sdk_calls
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import BenchRow, main
from bench.durable import GRAPH, GRAPH_FILE, _langgraph_dev, _server
from stores.demo.local_redis import free_port

Check = Callable[[Any], Awaitable[bool]]


async def _thread(client: Any, **kwargs: Any) -> str:
    return str((await client.threads.create(**kwargs))["thread_id"])


async def _ran(client: Any) -> str:
    tid = await _thread(client)
    await client.runs.wait(tid, GRAPH, input={"n": 1})
    return tid


async def _events(stream: Any) -> list[str]:
    return [part.event async for part in stream]


def _checks() -> dict[str, Check]:
    async def assistants_search(c: Any) -> bool:
        found = await c.assistants.search(graph_id=GRAPH)
        return any(a["graph_id"] == GRAPH for a in found)

    async def assistants_get_graph(c: Any) -> bool:
        aid = (await c.assistants.search(graph_id=GRAPH))[0]["assistant_id"]
        graph = await c.assistants.get_graph(aid)
        return {n["id"] for n in graph["nodes"]} >= {"work"}

    async def assistants_schemas(c: Any) -> bool:
        aid = (await c.assistants.search(graph_id=GRAPH))[0]["assistant_id"]
        return "state_schema" in await c.assistants.get_schemas(aid)

    async def assistants_create_update_delete(c: Any) -> bool:
        made = await c.assistants.create(GRAPH, config={"tags": ["a"]}, name="bench")
        updated = await c.assistants.update(made["assistant_id"], name="bench2")
        versions = await c.assistants.get_versions(made["assistant_id"])
        await c.assistants.delete(made["assistant_id"])
        return bool(updated["name"] == "bench2" and len(versions) == 2)

    async def assistants_count(c: Any) -> bool:
        return int(await c.assistants.count(graph_id=GRAPH)) >= 1

    async def threads_create_get(c: Any) -> bool:
        tid = await _thread(c, metadata={"k": "v"})
        return bool((await c.threads.get(tid))["metadata"]["k"] == "v")

    async def threads_update(c: Any) -> bool:
        tid = await _thread(c, metadata={"a": 1})
        await c.threads.update(tid, metadata={"b": 2})
        meta = (await c.threads.get(tid))["metadata"]
        return bool(meta.get("a") == 1 and meta.get("b") == 2)

    async def threads_delete(c: Any) -> bool:
        tid = await _thread(c)
        await c.threads.delete(tid)
        try:
            await c.threads.get(tid)
        except Exception as exc:
            response = getattr(exc, "response", None)
            return getattr(exc, "status_code", getattr(response, "status_code", None)) == 404
        return False

    async def threads_search_metadata(c: Any) -> bool:
        mark = uuid.uuid4().hex
        tid = await _thread(c, metadata={"mark": mark})
        found = await c.threads.search(metadata={"mark": mark})
        return [t["thread_id"] for t in found] == [tid]

    async def threads_search_status(c: Any) -> bool:
        tid = await _ran(c)
        found = await c.threads.search(status="idle", limit=100)
        return tid in {t["thread_id"] for t in found}

    async def threads_count(c: Any) -> bool:
        mark = uuid.uuid4().hex
        await _thread(c, metadata={"mark": mark})
        return int(await c.threads.count(metadata={"mark": mark})) == 1

    async def threads_copy(c: Any) -> bool:
        tid = await _ran(c)
        copy = await c.threads.copy(tid)
        state = await c.threads.get_state(copy["thread_id"])
        return bool(state["values"].get("done") is True)

    async def threads_get_state(c: Any) -> bool:
        state = await c.threads.get_state(await _ran(c))
        return bool(state["values"].get("done") is True and state["checkpoint"]["checkpoint_id"])

    async def threads_get_state_at_checkpoint(c: Any) -> bool:
        tid = await _ran(c)
        history = await c.threads.get_history(tid)
        oldest = history[-1]["checkpoint"]["checkpoint_id"]
        state = await c.threads.get_state(tid, checkpoint_id=oldest)
        return bool(state["checkpoint"]["checkpoint_id"] == oldest)

    async def threads_update_state(c: Any) -> bool:
        tid = await _ran(c)
        await c.threads.update_state(tid, {"n": 41}, as_node="work")
        return bool((await c.threads.get_state(tid))["values"]["n"] == 41)

    async def threads_history(c: Any) -> bool:
        return len(await c.threads.get_history(await _ran(c))) >= 2

    async def runs_wait_stateless(c: Any) -> bool:
        out = await c.runs.wait(None, GRAPH, input={"n": 1})
        return bool(out.get("done") is True)

    async def runs_wait_thread(c: Any) -> bool:
        out = await c.runs.wait(await _thread(c), GRAPH, input={"n": 1})
        return bool(out.get("done") is True)

    def stream_check(mode: str, event: str) -> Check:
        async def check(c: Any) -> bool:
            stream = c.runs.stream(await _thread(c), GRAPH, input={"n": 1}, stream_mode=mode)
            events = await _events(stream)
            return bool(events and events[0] == "metadata" and event in events)

        return check

    async def runs_create_join_get(c: Any) -> bool:
        tid = await _thread(c)
        run = await c.runs.create(tid, GRAPH, input={"n": 1})
        out = await c.runs.join(tid, run["run_id"])
        got = await c.runs.get(tid, run["run_id"])
        return bool(out.get("done") is True and got["status"] == "success")

    async def runs_list_status(c: Any) -> bool:
        tid = await _ran(c)
        return len(await c.runs.list(tid, status="success")) == 1

    async def runs_join_stream(c: Any) -> bool:
        tid = await _thread(c)
        run = await c.runs.create(tid, GRAPH, input={"n": 1})
        events = await _events(c.runs.join_stream(tid, run["run_id"]))
        return bool(events) and "error" not in events

    async def runs_cancel(c: Any) -> bool:
        tid = await _thread(c)
        run = await c.runs.create(tid, GRAPH, input={"n": 1})
        await c.runs.cancel(tid, run["run_id"], wait=True)
        status = (await c.runs.get(tid, run["run_id"]))["status"]
        return bool(status in {"interrupted", "success"})

    async def runs_delete(c: Any) -> bool:
        tid = await _thread(c)
        run = await c.runs.create(tid, GRAPH, input={"n": 1})
        await c.runs.join(tid, run["run_id"])
        await c.runs.delete(tid, run["run_id"])
        return len(await c.runs.list(tid)) == 0

    async def runs_interrupt_before(c: Any) -> bool:
        tid = await _thread(c)
        await c.runs.wait(tid, GRAPH, input={"n": 1}, interrupt_before=["work"])
        paused = (await c.threads.get_state(tid))["next"] == ["work"]
        await c.runs.wait(tid, GRAPH, input=None)
        return bool(paused and (await c.threads.get_state(tid))["values"].get("done"))

    async def runs_create_stateless(c: Any) -> bool:
        run = await c.runs.create(None, GRAPH, input={"n": 1})
        return bool(run["run_id"])

    async def store_put_get_search_delete(c: Any) -> bool:
        ns = ["bench", uuid.uuid4().hex]
        await c.store.put_item(ns, "k", {"text": "pricing concerns"})
        got = await c.store.get_item(ns, "k")
        found = await c.store.search_items(ns)
        await c.store.delete_item(ns, "k")
        return bool(got["value"]["text"] == "pricing concerns" and found["items"])

    async def store_namespaces(c: Any) -> bool:
        ns = ["bench", uuid.uuid4().hex]
        await c.store.put_item(ns, "k", {"v": 1})
        listed = await c.store.list_namespaces(prefix=ns)
        return [list(n) for n in listed["namespaces"]] == [ns]

    async def crons_create_search_delete(c: Any) -> bool:
        cron = await c.crons.create(GRAPH, schedule="0 0 1 1 *", input={"n": 1})
        found = await c.crons.search(assistant_id=cron["assistant_id"])
        await c.crons.delete(cron["cron_id"])
        return any(f["cron_id"] == cron["cron_id"] for f in found)

    async def runs_stream_custom(c: Any) -> bool:  # the graph writes nothing custom
        stream = c.runs.stream(await _thread(c), GRAPH, input={"n": 1}, stream_mode="custom")
        events = await _events(stream)
        return bool(events and events[0] == "metadata" and "error" not in events)

    checks: dict[str, Check] = {
        name: fn for name, fn in locals().items() if callable(fn) and name != "stream_check"
    }
    for mode, event in (("values", "values"), ("updates", "updates"), ("debug", "debug"),
                        ("tasks", "tasks"), ("checkpoints", "checkpoints"),
                        ("events", "events")):  # fmt: skip
        checks[f"runs_stream_{mode}"] = stream_check(mode, event)
    return checks


async def score(url: str) -> dict[str, bool]:
    """Each call's verdict against the server at `url`."""
    from langgraph_sdk import get_client

    client = get_client(url=url, timeout=60)
    verdicts: dict[str, bool] = {}
    try:
        for name, check in _checks().items():
            try:
                verdicts[name] = await check(client)
            except Exception:
                verdicts[name] = False
    finally:
        await client.aclose()
    return verdicts


async def run(quick: bool) -> list[BenchRow]:
    """Both servers, the same script; correct answers by each."""
    del quick  # the script is short either way
    with tempfile.TemporaryDirectory(prefix="sophia-sdk-calls-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "--factory", "bench.durable:create_app",
                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        env = {"SOPHIA_DATA_DIR": str(tmp / "data"), "SOPHIA_WAREHOUSE_URL": "duckdb:///:memory:",
               "SOPHIA_TRACE_FILE": "false", "SOPHIA_REDIS_URL": "", "SOPHIA_POSTGRES_URL": ""}
        async with _server(command, env, port, tmp / "sophia.log") as url:
            ours = await score(url)
        theirs: dict[str, bool] = {}
        binary = _langgraph_dev()
        if binary is not None:
            config = tmp / "langgraph.json"
            config.write_text(json.dumps({"graphs": {GRAPH: f"{GRAPH_FILE}:graph"},
                                          "dependencies": ["."]}))  # fmt: skip
            port = free_port()
            command = [binary, "dev", "--config", str(config), "--port", str(port),
                       "--no-browser", "--no-reload", "--server-log-level", "warning"]
            env = {"LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
                   "LANGCHAIN_TRACING_V2": "false"}
            async with _server(command, env, port, tmp / "langgraph-dev.log") as url:
                theirs = await score(url)
    for side, verdicts in (("sophia serve", ours), ("langgraph dev", theirs)):
        wrong = sorted(name for name, ok in verdicts.items() if not ok)
        if verdicts:
            print(f"{side}: wrong or missing: {', '.join(wrong) or 'none'}", file=sys.stderr)
    mine, other = sum(ours.values()), sum(theirs.values()) if theirs else float("nan")
    return [
        BenchRow(f"SDK calls answered correctly (of {len(ours)})", other, mine, "calls",
                 target=">= langgraph dev", met=not theirs or mine >= other),
    ]  # fmt: skip


if __name__ == "__main__":
    main(run, "The same langgraph-sdk script against sophia serve and langgraph dev")
