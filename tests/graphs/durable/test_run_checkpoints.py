"""Deleting the checkpoints of some runs, on SQLite and Postgres (a rolled-back run)."""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graphs.durable.run_checkpoints import delete_for_runs
from graphs.durable.store import open_durable
from graphs.engine.run_input import run_config
from stores.settings import Settings


class _State(TypedDict, total=False):
    said: Annotated[list[str], operator.add]


def _graph() -> Any:
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(_State)
    graph.add_node("one", lambda state: {"said": ["one"]})
    graph.add_node("two", lambda state: {"said": ["two"]})
    graph.add_edge(START, "one")
    graph.add_edge("one", "two")
    graph.add_edge("two", END)
    return graph


async def test_the_checkpoints_of_a_run_are_deleted_and_no_others(
    durable_settings: Settings,
) -> None:
    async with open_durable(durable_settings) as durable:
        await durable.ensure_ready()
        graph = _graph().compile(checkpointer=durable.checkpointer)
        thread = f"t-{uuid.uuid4().hex[:8]}"
        first, second = uuid.uuid4().hex, uuid.uuid4().hex
        for run_id in (first, second):
            await graph.ainvoke({"said": []}, run_config(run_id, thread), durability="sync")
        config = run_config(thread_id=thread)
        before = [c async for c in durable.checkpointer.alist(config)]
        runs = [c.metadata.get("run_id") for c in before]
        assert runs.count(first) and runs.count(second)

        await delete_for_runs(durable, [second])
        after = [c async for c in durable.checkpointer.alist(config)]
        assert {c.metadata.get("run_id") for c in after} == {first}
        assert len(after) == runs.count(first)
        state = await graph.aget_state(config)  # the thread is back where the first left it
        assert state.values["said"] == ["one", "two"]
