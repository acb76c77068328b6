"""No blocking I/O on the event loop, checked with blockbuster as `langgraph dev` does.

`langgraph dev` runs graphs with blockbuster active and fails a run, or the server's
startup, on a blocking call made on the event loop; it lets os.stat, os.path.*, plain
file reads and writes and lock waits through. These tests hold the engine to more: only
lock waits (thread pools, OpenTelemetry's processors) are allowed, around the engine's
whole lifetime, the HTTP app's and the langgraph.json factories'. A blocking call added
anywhere in graphs/, nodes/, stores/ or telemetry/ fails here before it fails under
`langgraph dev` or stalls a server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from blockbuster import BlockBuster, BlockingError

from graphs import langgraph_entry
from graphs.engine.engine import Engine
from graphs.seeding.memory import seed_memory
from graphs.seeding.warehouse import seed_all
from graphs.server.app import create_app
from stores.settings import Settings

# langgraph dev also allows os.stat, os.listdir, os.remove, os.path.* and file I/O.
ALLOWED_ON_THE_LOOP = ("threading.Lock.acquire",)
AT_RISK = "D-00003"


@contextmanager
def blocking_calls_forbidden() -> Iterator[BlockBuster]:
    """Blockbuster active, stricter than under `langgraph dev`: BlockingError on a call."""
    buster = BlockBuster(excluded_modules=[])
    for name in ALLOWED_ON_THE_LOOP:
        function = buster.functions.pop(name, None)
        if function is not None:
            function.deactivate()
    buster.activate()
    try:
        yield buster
    finally:
        buster.deactivate()


@pytest.fixture
async def seeded(settings: Settings) -> AsyncIterator[Settings]:
    """`settings` with the memory index built, so opening the engine loads one."""
    await seed_memory(settings)
    yield settings


async def test_the_check_catches_a_blocking_call(tmp_path: Path) -> None:
    with blocking_calls_forbidden(), pytest.raises(BlockingError, match=r"os\.mkdir"):
        (tmp_path / "on-the-loop").mkdir()
    (tmp_path / "once-off").mkdir()  # and it stops once it is off


async def test_engine_lifetime_never_blocks_the_loop(seeded: Settings) -> None:
    with blocking_calls_forbidden():
        async with Engine(seeded) as engine:  # pool, index (telemetry: the test below)
            done = await engine.invoke("deal_review", {"deal_ids": ["D-00001", AT_RISK]})
            assert done["status"] == "complete"
            recalled = await engine.invoke("memory_recall", {"query": "pricing concerns"})
            assert recalled["errors"] == []
            events = [e async for e in engine.stream("deal_review", {"deal_ids": [AT_RISK]})]
            assert events[-1]["event"] == "end"
            paused = await engine.invoke(
                "deal_review", {"deal_ids": [AT_RISK], "require_approval": True}, thread_id="t"
            )
            assert paused["status"] == "interrupted"
            assert (await engine.get_state("deal_review", "t")).next == ("synthesis",)
            assert len(await engine.get_state_history("deal_review", "t")) > 1
            resumed = await engine.resume("deal_review", "t", "approve")
            assert resumed["status"] == "complete"
            assert engine.stats()["warehouse"]["statements"] > 0


async def test_telemetry_set_up_and_shut_down_never_block_the_loop(seeded: Settings) -> None:
    # As `langgraph dev` opens one engine per graph factory: each configures telemetry
    # (replacing the last, whose span file is flushed) and shuts it down on close.
    traced = seeded.model_copy(update={"trace_file": True})
    with blocking_calls_forbidden():
        async with Engine(traced, configure_telemetry=True) as first:
            await first.invoke("deal_review", {"deal_ids": [AT_RISK]})
            async with Engine(traced, configure_telemetry=True) as second:
                await second.invoke("deal_review", {"deal_ids": [AT_RISK]})
    lines = (traced.data_dir / "traces.jsonl").read_text().splitlines()
    roots = [span["name"] for span in map(json.loads, lines) if span["parent_span_id"] is None]
    assert roots.count("deal_review") == 2 and roots.count("engine.open") == 2, roots


async def test_http_app_never_blocks_the_loop(seeded: Settings) -> None:
    app = create_app(seeded)
    with blocking_calls_forbidden():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                for path in ("/readyz", "/stats", "/metrics", "/dashboard/data", "/graphs"):
                    assert (await c.get(path)).status_code == 200, path
                invoked = await c.post("/graphs/deal_review/invoke", json={"deal_ids": [AT_RISK]})
                assert invoked.status_code == 200
                streamed = await c.post("/graphs/deal_review/stream", json={})
                assert streamed.status_code == 200 and "event: end" in streamed.text
                thread = (await c.post("/threads", json={})).json()["thread_id"]
                run = await c.post(
                    f"/threads/{thread}/runs/wait",
                    json={"assistant_id": "deal_review", "input": {"deal_ids": [AT_RISK]}},
                )
                assert run.status_code == 200
                assert (await c.get(f"/threads/{thread}/state")).status_code == 200


async def test_authentication_never_blocks_the_loop(seeded: Settings) -> None:
    """Keys are read from the store's thread and hashed in a worker thread."""
    from tests.graphs.server.auth_support import make_key

    _, key = await make_key(seeded)
    app = create_app(seeded)
    with blocking_calls_forbidden():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                assert (await c.get("/graphs")).status_code == 401
                for _ in range(2):  # verified (argon2id), then cached
                    assert (await c.get("/graphs", headers={"x-api-key": key})).status_code == 200
                wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
                assert (await c.get("/graphs", headers={"x-api-key": wrong})).status_code == 401


async def test_langgraph_json_factories_never_block_the_loop(
    seeded: Settings, shared_engine: langgraph_entry.SharedEngine
) -> None:
    with blocking_calls_forbidden():
        async with langgraph_entry.deal_review({}) as graph:
            result = await graph.ainvoke({"deal_ids": [AT_RISK]})
        async with langgraph_entry.memory_recall({}) as graph:
            await asyncio.wait_for(graph.ainvoke({"query": "renewal risk"}), 30)
        await shared_engine.close()  # closing, too, stays off the loop
    assert result["report"][AT_RISK]["health_score"] is not None


async def test_default_relative_data_dir_never_blocks_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_engine: langgraph_entry.SharedEngine
) -> None:
    """The defaults as `langgraph dev` meets them: a data dir relative to the working dir."""
    state = tmp_path / "state"  # explicit URL: SOPHIA_WAREHOUSE_URL names the shared warehouse
    await seed_all(
        Settings(
            data_dir=state, warehouse_url=f"duckdb:///{state}/warehouse.duckdb", seed_scale=0.004
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOPHIA_WAREHOUSE_URL")
    monkeypatch.setenv("SOPHIA_DATA_DIR", "state")
    with blocking_calls_forbidden():
        async with langgraph_entry.deal_review({}) as graph:
            result = await graph.ainvoke({})
        engine = await shared_engine.get()
        assert engine.settings.data_dir == tmp_path / "state"
        await shared_engine.close()
    assert result["report"]["D-00001"]["health_score"] is not None
