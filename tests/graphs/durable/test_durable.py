"""Durable runs on the Engine: checkpoints, state and history, approval, store faults.

Each test runs on SQLite (under the data dir) and on the local Postgres (a schema of its
own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from graphs.durable.errors import (
    CheckpointStoreError,
    CheckpointStoreUnavailableError,
    NothingToResumeError,
    UnknownThreadError,
)
from graphs.engine.engine import Engine
from graphs.engine.errors import InvalidInputError
from stores.settings import Settings
from tests.graphs.durable.durable_app import counts, registry_from_env
from tests.graphs.durable.durable_support import (
    TcpProxy,
    postgres_available,
    postgres_schema,
    wait_for_counts,
)

AT_RISK = "D-00003"
HEALTHY = "D-00016"  # healthy in the SMALL demo data (D-00010 was, before Slack risks counted)


@pytest.fixture
def count_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "counts.txt"
    monkeypatch.setenv("SOPHIA_TEST_COUNT_FILE", str(path))
    return path


async def n_checkpoints(engine: Engine) -> int:
    await engine.durable.ensure_ready()
    return len([c async for c in engine.durable.checkpointer.alist(None)])


async def test_threaded_run_checkpoints_every_superstep(durable_settings: Settings) -> None:
    async with Engine(durable_settings, configure_telemetry=False) as engine:
        assert engine.durable.backend == ("postgres" if durable_settings.postgres_url else "sqlite")
        result = await engine.invoke("deal_review", {"deal_ids": [HEALTHY]}, thread_id="t-1")
        assert result["status"] == "complete" and result["thread_id"] == "t-1"
        assert result["interrupts"] == []
        state = await engine.get_state("deal_review", "t-1")
        assert state.next == ()
        assert state.values["report"][HEALTHY] == result["deals"][HEALTHY]["report"]
        history = await engine.get_state_history("deal_review", "t-1")
        assert [h.next for h in history] == [
            (),
            ("synthesis",),
            ("sales_analysis", "communication_analysis", "project_analysis"),
            ("hubspot", "gong", "slack", "linear", "memory"),
            ("__start__",),
        ]
        assert [h.metadata["step"] for h in history if h.metadata] == [3, 2, 1, 0, -1]
        # the same result as a thread-less run of the same input
        plain = await engine.invoke("deal_review", {"deal_ids": [HEALTHY]})
        assert plain["deals"] == result["deals"]


async def test_thread_less_runs_write_no_checkpoints(durable_settings: Settings) -> None:
    async with Engine(durable_settings, configure_telemetry=False) as engine:
        assert await n_checkpoints(engine) == 0
        await engine.invoke("deal_review", {"deal_ids": [HEALTHY]})
        async for _ in engine.stream("deal_review", {"deal_ids": [HEALTHY]}):
            pass
        assert await n_checkpoints(engine) == 0
        await engine.invoke("deal_review", {"deal_ids": [HEALTHY]}, thread_id="t-2")
        assert await n_checkpoints(engine) == 5


async def test_threads_survive_the_engine(durable_settings: Settings) -> None:
    async with Engine(durable_settings, configure_telemetry=False) as engine:
        await engine.invoke(
            "deal_review", {"deal_ids": [AT_RISK], "require_approval": True}, thread_id="t-keep"
        )
    async with Engine(durable_settings, configure_telemetry=False) as engine:
        state = await engine.get_state("deal_review", "t-keep")
        assert state.next == ("synthesis",) and state.interrupts
        record = await engine.durable.threads.get("t-keep")
        assert record is not None and record.graph_id == "deal_review"
        done = await engine.resume("deal_review", "t-keep", "approve")
        assert done["deals"][AT_RISK]["report"]["approval"]["decision"] == "approve"


async def test_approval_interrupt_and_resume(durable_settings: Settings) -> None:
    async with Engine(durable_settings, configure_telemetry=False) as engine:
        paused = await engine.invoke(
            "deal_review",
            {"deal_ids": [AT_RISK, HEALTHY], "require_approval": True},
            thread_id="t-approve",
        )
        assert paused["status"] == "interrupted"
        (interrupt,) = paused["interrupts"]
        assert interrupt["value"]["kind"] == "deal_approval"
        assert list(interrupt["value"]["deals"]) == [AT_RISK]
        assert paused["deals"][AT_RISK]["report"] is None
        state = await engine.get_state("deal_review", "t-approve")
        assert state.next == ("synthesis",)
        done = await engine.resume(
            "deal_review", "t-approve", {"decision": "approve", "reviewer": "ana"}
        )
        assert done["status"] == "complete"
        approval = done["deals"][AT_RISK]["report"]["approval"]
        assert approval == {"decision": "approve", "note": None, "reviewer": "ana"}
        assert "approval" not in done["deals"][HEALTHY]["report"]
        with pytest.raises(NothingToResumeError):
            await engine.resume("deal_review", "t-approve", "approve")
        garbled = await engine.invoke(
            "deal_review", {"deal_ids": [AT_RISK], "require_approval": True}, thread_id="t-bad"
        )
        assert garbled["status"] == "interrupted"
        bad = await engine.resume("deal_review", "t-bad", 42)
        assert bad["deals"][AT_RISK]["report"]["approval"]["decision"] == "invalid"
        # no deal at risk: no pause even when asked for approval
        calm = await engine.invoke(
            "deal_review", {"deal_ids": [HEALTHY], "require_approval": True}, thread_id="t-calm"
        )
        assert calm["status"] == "complete" and calm["interrupts"] == []


async def test_unknown_threads_and_thread_less_approval(settings: Settings) -> None:
    async with Engine(settings, configure_telemetry=False) as engine:
        with pytest.raises(UnknownThreadError):
            await engine.get_state("deal_review", "missing")
        with pytest.raises(UnknownThreadError):
            await engine.resume("deal_review", "missing", "approve")
        with pytest.raises(UnknownThreadError):
            await engine.get_state_history("deal_review", "missing")
        with pytest.raises(InvalidInputError, match="thread"):
            await engine.invoke("deal_review", {"require_approval": True})


async def test_cancelled_run_resumes_without_rerunning_finished_nodes(
    durable_settings: Settings, count_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPHIA_TEST_SLOW_NODE", "linear")
    monkeypatch.setenv("SOPHIA_TEST_SLOW_S", "30")
    async with Engine(
        durable_settings, registry=registry_from_env(), configure_telemetry=False
    ) as engine:
        task = asyncio.create_task(
            engine.invoke("deal_review", {"deal_ids": [HEALTHY]}, thread_id="t-cut")
        )
        await wait_for_counts(
            count_file, ["done hubspot", "done gong", "done slack", "start linear"]
        )
        await asyncio.sleep(0.5)  # let the finished tasks' writes land
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    monkeypatch.setenv("SOPHIA_TEST_SLOW_S", "0")
    async with Engine(
        durable_settings, registry=registry_from_env(), configure_telemetry=False
    ) as engine:
        state = await engine.get_state("deal_review", "t-cut")
        assert "linear" in state.next
        done = await engine.resume("deal_review", "t-cut")
        assert done["status"] == "complete"
        assert done["deals"][HEALTHY]["report"]["health_score"] is not None
    seen = counts(count_file)
    assert {k: seen.get(k) for k in ("start hubspot", "start gong", "start slack")} == {
        "start hubspot": 1,
        "start gong": 1,
        "start slack": 1,
    }
    assert seen["start linear"] == 2 and seen["done linear"] == 1


async def test_postgres_down_at_start(settings: Settings, count_file: Path) -> None:
    """Nothing listens: thread-less runs work, threaded ones fail clearly, no node ran."""
    from tests.graphs.server.live_server import free_port

    down = settings.model_copy(
        update={"postgres_url": f"postgresql://postgres@127.0.0.1:{free_port()}/test"}
    )
    async with Engine(down, registry=registry_from_env(), configure_telemetry=False) as engine:
        ok = await engine.invoke("deal_review", {"deal_ids": [HEALTHY]})
        assert ok["status"] == "complete"
        started = counts(count_file)
        with pytest.raises(CheckpointStoreUnavailableError, match="postgres"):
            await engine.invoke("deal_review", {"deal_ids": [HEALTHY]}, thread_id="t-x")
        assert counts(count_file) == started  # no agent ran for the failed threaded run
        with pytest.raises(CheckpointStoreUnavailableError):
            await engine.get_state("deal_review", "t-x")


async def test_postgres_cut_mid_life(settings: Settings, count_file: Path) -> None:
    """The connection to a live Postgres is cut, then restored: nothing half-written."""
    if not postgres_available():
        pytest.skip("no Postgres on 127.0.0.1:5432")
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        with postgres_schema() as url:
            via_proxy = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            cut = settings.model_copy(update={"postgres_url": via_proxy})
            async with Engine(
                cut, registry=registry_from_env(), configure_telemetry=False
            ) as engine:
                first = await engine.invoke(
                    "deal_review", {"deal_ids": [HEALTHY]}, thread_id="t-cut"
                )
                assert first["status"] == "complete"
                before = [h.config for h in await engine.get_state_history("deal_review", "t-cut")]
                await proxy.stop()
                ok = await engine.invoke("deal_review", {"deal_ids": [HEALTHY]})
                assert ok["status"] == "complete"
                error: BaseException | None = None
                try:
                    await engine.invoke("deal_review", {"deal_ids": [AT_RISK]}, thread_id="t-cut")
                except CheckpointStoreError as exc:
                    error = exc
                assert error is not None, "a threaded run succeeded with Postgres cut off"
                assert "postgres" in str(error).lower()
                await proxy.start()
                after = await retry(lambda: engine.get_state_history("deal_review", "t-cut"))
                assert [h.config for h in after] == before  # nothing from the failed run
                again = await engine.invoke(
                    "deal_review", {"deal_ids": [AT_RISK]}, thread_id="t-cut"
                )
                assert again["status"] == "complete"
    finally:
        await proxy.stop()


async def retry(make: Any, attempts: int = 20) -> Any:
    """The pool may hand out a connection the cut broke; the next one is fresh."""
    for i in range(attempts):
        try:
            return await make()
        except CheckpointStoreError:
            if i == attempts - 1:
                raise
            await asyncio.sleep(0.2)
