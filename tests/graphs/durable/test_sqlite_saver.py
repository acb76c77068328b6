"""`ThreadedSqliteSaver` against every async method of LangGraph's `BaseCheckpointSaver`.

Checkpoints are made by real graphs run with the saver (a file on disk), then read back,
listed, filtered, copied, pruned and deleted through the async API.
"""

from __future__ import annotations

import operator
import sqlite3
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from graphs.durable.sqlite_saver import ThreadedSqliteSaver


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    builder.add_node("a", lambda s: {"steps": ["a"]})
    builder.add_node("b", lambda s: {"steps": ["b"]})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    return builder.compile(checkpointer=saver)


@pytest.fixture
async def saver(tmp_path: Path) -> AsyncIterator[ThreadedSqliteSaver]:
    executor = ThreadPoolExecutor(max_workers=1)
    conn = sqlite3.connect(tmp_path / "checkpoints.sqlite", check_same_thread=False)
    saver = ThreadedSqliteSaver(conn, executor)
    await saver.asetup()
    try:
        yield saver
    finally:
        conn.close()
        executor.shutdown()


async def _run(saver: ThreadedSqliteSaver, thread_id: str) -> str:
    run_id = str(uuid.uuid4())
    # as the engine's run_config does: the run's id goes into the checkpoints' metadata
    config = {"configurable": {"thread_id": thread_id}, "run_id": run_id,
              "metadata": {"run_id": run_id}}  # fmt: skip
    await _graph(saver).ainvoke({"steps": []}, config)
    return run_id


def _config(thread_id: str, checkpoint_id: str | None = None) -> Any:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


async def _ids(saver: ThreadedSqliteSaver, thread_id: str, **kwargs: Any) -> list[str]:
    listed = saver.alist(_config(thread_id), **kwargs)
    return [t.config["configurable"]["checkpoint_id"] async for t in listed]


async def test_get_tuple_get_and_list_read_what_a_run_wrote(saver: ThreadedSqliteSaver) -> None:
    run_id = await _run(saver, "t1")
    latest = await saver.aget_tuple(_config("t1"))
    assert latest is not None
    assert latest.checkpoint["channel_values"]["steps"] == ["a", "b"]
    assert latest.metadata["run_id"] == run_id
    assert (await saver.aget(_config("t1")))["id"] == latest.checkpoint["id"]  # type: ignore[index]
    ids = await _ids(saver, "t1")
    assert len(ids) == 4 and ids == sorted(ids, reverse=True)  # input, a, b + the start
    older = await saver.aget_tuple(_config("t1", ids[-1]))
    assert older is not None and older.config["configurable"]["checkpoint_id"] == ids[-1]
    assert await _ids(saver, "t1", limit=2) == ids[:2]
    assert await _ids(saver, "t1", before=_config("t1", ids[1])) == ids[2:]
    steps = [t.metadata["step"] async for t in saver.alist(_config("t1"), filter={"step": 1})]
    assert steps == [1]
    assert await saver.aget_tuple(_config("nope")) is None


async def test_put_and_put_writes_round_trip(saver: ThreadedSqliteSaver) -> None:
    await _run(saver, "t1")
    latest = await saver.aget_tuple(_config("t1"))
    assert latest is not None
    newer = latest.checkpoint["id"][:-1] + ("0" if latest.checkpoint["id"][-1] != "0" else "1")
    checkpoint = {**latest.checkpoint, "id": max(newer, latest.checkpoint["id"] + "0")}
    stored = await saver.aput(latest.config, checkpoint, {"source": "update", "step": 9}, {})
    await saver.aput_writes(stored, [("steps", ["c"])], task_id="task-1")
    again = await saver.aget_tuple(stored)
    assert again is not None and again.metadata["step"] == 9
    assert again.parent_config is not None
    parent = again.parent_config["configurable"]["checkpoint_id"]
    assert parent == latest.config["configurable"]["checkpoint_id"]
    assert [(w[0], w[1], w[2]) for w in again.pending_writes or []] == [("task-1", "steps", ["c"])]


async def test_copy_thread_copies_every_checkpoint_and_write(saver: ThreadedSqliteSaver) -> None:
    await _run(saver, "src")
    await saver.acopy_thread("src", "dst")
    assert await _ids(saver, "dst") == await _ids(saver, "src")
    copied = await saver.aget_tuple(_config("dst"))
    assert copied is not None and copied.checkpoint["channel_values"]["steps"] == ["a", "b"]
    # a copy is independent: deleting the source leaves it
    await saver.adelete_thread("src")
    assert await _ids(saver, "src") == [] and len(await _ids(saver, "dst")) == 4


async def test_prune_keeps_the_latest_or_deletes(saver: ThreadedSqliteSaver) -> None:
    await _run(saver, "keep")
    await _run(saver, "gone")
    await _run(saver, "other")
    latest = (await _ids(saver, "keep"))[0]
    await saver.aprune(["keep"])
    assert await _ids(saver, "keep") == [latest]
    kept = await saver.aget_tuple(_config("keep"))
    assert kept is not None and kept.checkpoint["channel_values"]["steps"] == ["a", "b"]
    await saver.aprune(["gone"], strategy="delete")
    assert await _ids(saver, "gone") == []
    assert len(await _ids(saver, "other")) == 4
    with pytest.raises(TypeError):
        await saver.aprune("keep")
    with pytest.raises(ValueError, match="unknown prune strategy"):
        await saver.aprune(["keep"], strategy="everything")


async def test_delete_for_runs_and_delete_thread(saver: ThreadedSqliteSaver) -> None:
    first = await _run(saver, "t")
    second = await _run(saver, "t")
    await _run(saver, "u")
    before = await _ids(saver, "t")
    await saver.adelete_for_runs([first])
    after = [t.metadata["run_id"] async for t in saver.alist(_config("t"))]
    assert second in after and first not in after and len(after) < len(before)
    await saver.adelete_thread("t")
    assert await _ids(saver, "t") == [] and len(await _ids(saver, "u")) == 4


async def test_delta_channel_history_answers(saver: ThreadedSqliteSaver) -> None:
    await _run(saver, "t")
    history = await saver.aget_delta_channel_history(config=_config("t"), channels=["steps"])
    assert set(history) <= {"steps"}
