"""What a run may be asked through the official ``langgraph_sdk`` client: interrupts,
a checkpoint to fork from, on_disconnect, multitask rollback, webhooks, runtime context,
and the record of what it was given (``kwargs``); what cannot be honoured is a 422."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError

from stores.settings import Settings
from tests.graphs.server.langgraph_api.run_support import (
    Receiver,
    gate,
    gate_name,
    live,
    reached,
    refusal,
    until,
)
from tests.graphs.server.live_server import ServerThread


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with live(settings) as running:
        yield running


async def test_interrupt_before_and_after_pause_and_resume(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    paused = await client.runs.wait(tid, "steps", input={}, interrupt_before=["b"])
    assert paused["said"] == ["a"]
    state = await client.threads.get_state(tid)
    assert state["next"] == ["b"] and state["values"]["said"] == ["a"]
    (run,) = await client.runs.list(tid)
    assert run["status"] == "interrupted" and run["kwargs"]["interrupt_before"] == ["b"]
    assert (await client.threads.get(tid))["status"] == "interrupted"  # as LangGraph's server
    done = await client.runs.wait(tid, "steps", input=None)  # resume: continues at b
    assert done["said"] == ["a", "b", "c"]
    assert (await client.threads.get_state(tid))["next"] == []
    assert (await client.threads.get(tid))["status"] == "idle"

    other = (await client.threads.create())["thread_id"]
    await client.runs.wait(other, "steps", input={}, interrupt_after=["a", "b"])
    assert (await client.threads.get_state(other))["next"] == ["b"]
    await client.runs.wait(other, "steps", input=None, interrupt_after=["a", "b"])
    assert (await client.threads.get_state(other))["next"] == ["c"]
    await client.runs.wait(other, "steps", input=None)
    assert (await client.threads.get_state(other))["values"]["said"] == ["a", "b", "c"]

    status, detail = await refusal(lambda: client.runs.wait(tid, "steps", input={},
                                                            interrupt_before=["nope"]))  # fmt: skip
    assert status == 422 and "interrupt_before" in detail and "nope" in detail
    status, detail = await refusal(lambda: client.runs.wait(None, "steps", input={},
                                                            interrupt_after="*"))  # fmt: skip
    assert status == 422 and "interrupt_after" in detail


async def test_a_run_forks_from_an_older_checkpoint(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "steps", input={"word": "one"})
    history = await client.threads.get_history(tid, limit=10)
    after_a = next(h for h in history if h["next"] == ["b"])
    fork_id = after_a["checkpoint"]["checkpoint_id"]
    values = await client.runs.wait(tid, "steps", input={"word": "two"}, checkpoint_id=fork_id)
    assert values["said"] == ["a", "a", "b", "c"] and values["word"] == "two"  # from a's state
    state = await client.threads.get_state(tid)
    assert state["values"]["said"] == ["a", "a", "b", "c"]
    chain = {h["checkpoint"]["checkpoint_id"]: h for h in await client.threads.get_history(
        tid, limit=50)}  # fmt: skip
    walk, seen = state["checkpoint"]["checkpoint_id"], []
    while walk is not None:
        seen.append(walk)
        parent = chain[walk]["parent_checkpoint"]
        walk = parent["checkpoint_id"] if parent else None
    assert fork_id in seen  # the new run's checkpoints descend from the fork
    replay = await client.runs.wait(tid, "steps", input=None,
                                    checkpoint={"checkpoint_id": fork_id})  # type: ignore[typeddict-item]
    assert replay["said"] == ["a", "b", "c"]
    unknown = str(uuid.uuid4())
    status, _ = await refusal(lambda: client.runs.wait(tid, "steps", input=None,
                                                       checkpoint_id=unknown))  # fmt: skip
    assert status == 404
    status, detail = await refusal(lambda: client.runs.wait(None, "steps", input={},
                                                            checkpoint_id=fork_id))  # fmt: skip
    assert status == 422 and "checkpoint_id" in detail


async def test_on_disconnect_continue_keeps_the_run_cancel_stops_it(
    server: ServerThread,
) -> None:
    client = get_client(url=server.url)
    outcomes = {}
    for mode in ("continue", None):
        tid = (await client.threads.create())["thread_id"]
        name = gate_name()
        stream = client.runs.stream(tid, "gated", input={"gate": name},
                                    on_disconnect=mode)  # type: ignore[arg-type]  # fmt: skip
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for part in stream:
                assert part.event == "metadata"
                run_id = part.data["run_id"]
                await reached(name)
                break  # leave while the run waits at its gate
        if mode == "continue":
            gate(name).set()  # the run must still be there to get past its gate

        async def ended(tid: str = tid, run_id: str = run_id) -> bool:
            status = (await client.runs.get(tid, run_id))["status"]
            return status not in ("pending", "running")

        await until(ended, "ended")
        run = await client.runs.get(tid, run_id)
        outcomes[mode] = (run["status"], run["kwargs"]["on_disconnect"])
        gate(name).set()
        if mode == "continue":
            values = await client.runs.join(tid, run_id)
            assert values["said"] == ["first", "waited", "after"]
    assert outcomes == {"continue": ("success", "continue"), None: ("interrupted", "cancel")}


async def test_multitask_rollback_deletes_the_first_run_interrupt_keeps_it(
    server: ServerThread,
) -> None:
    client = get_client(url=server.url)
    kept: dict[str, Any] = {}
    for strategy in ("rollback", "interrupt"):
        tid = (await client.threads.create())["thread_id"]
        name = gate_name()
        first = await client.runs.create(tid, "gated", input={"gate": name})
        await reached(name)
        second = await client.runs.create(tid, "steps", input={},
                                          multitask_strategy=strategy)  # type: ignore[arg-type]  # fmt: skip
        await client.runs.join(tid, second["run_id"])
        gate(name).set()
        listed = [r["run_id"] for r in await client.runs.list(tid)]
        said = (await client.threads.get_state(tid))["values"]["said"]
        kept[strategy] = (listed, said)
        if strategy == "rollback":
            with pytest.raises(NotFoundError):
                await client.runs.get(tid, first["run_id"])
            assert listed == [second["run_id"]]
            assert said == ["a", "b", "c"]  # what the first run wrote is gone
            history = await client.threads.get_history(tid, limit=50)
            assert all(h["metadata"].get("run_id") != uuid.UUID(first["run_id"]).hex
                       for h in history)  # fmt: skip
        else:
            assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"
            assert listed == [second["run_id"], first["run_id"]]
            assert said == ["first", "a", "b", "c"]  # its completed step stays


async def test_webhook_gets_the_outcome_with_retries_and_only_allowed_hosts(
    server: ServerThread,
) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    with Receiver(failures=1) as receiver:
        run = await client.runs.create(tid, "steps", input={"word": "w"}, webhook=receiver.url)
        await client.runs.join(tid, run["run_id"])

        async def delivered() -> bool:
            return bool(receiver.bodies)

        await until(delivered, "delivered")
    (body,) = receiver.bodies
    assert receiver.calls == 2  # the first answer was a 500: tried again
    assert body["run_id"] == run["run_id"] and body["thread_id"] == tid
    assert body["status"] == "success" and body["values"]["said"] == ["a", "b", "c"]
    assert body["kwargs"]["webhook"] == receiver.url and body["run_ended_at"]
    for url in ("http://example.com/hook", "ftp://127.0.0.1/hook", "not a url"):
        status, detail = await refusal(lambda u=url: client.runs.create(tid, "steps",
                                                                        webhook=u))  # fmt: skip
        assert status == 422 and "webhook" in detail
    assert len(await client.runs.list(tid)) == 1  # refused before any run existed


async def test_context_reaches_the_graph_and_kwargs_record_the_run(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    said = await client.runs.wait(tid, "greet", input={}, context={"user": "ana"})
    assert said["said"] == ["hi ana"]
    said = await client.runs.wait(None, "greet", context={"user": "bo", "greeting": "hello"})
    assert said["said"] == ["hello bo"]
    echoed = await client.runs.wait(None, "echo", input={}, context={"word": "ctx"})
    assert echoed["said"] == ["ctx"]  # mirrored into config.configurable, as LangGraph does
    status, detail = await refusal(lambda: client.runs.wait(None, "greet",
                                                            context={"who": "x"}))  # fmt: skip
    assert status == 422 and "context.who: unknown key" in detail
    assert "context.user: required" in detail
    status, detail = await refusal(lambda: client.runs.wait(None, "greet"))
    assert status == 422 and "context.user: required" in detail
    # as LangGraph's server: without a context, the configurable is the context
    said = await client.runs.wait(None, "greet", config={"configurable": {"user": "cy"}})
    assert said["said"] == ["hi cy"]
    status, detail = await refusal(lambda: client.runs.wait(
        None, "echo", context={"word": "a"}, config={"configurable": {"word": "b"}}))  # fmt: skip
    assert status == 422 and "context" in detail

    (run,) = await client.runs.list(tid)
    kwargs = run["kwargs"]
    assert kwargs["input"] == {"word": "hello"} and kwargs["context"] == {"user": "ana"}
    assert kwargs["stream_mode"] == ["values"] and kwargs["command"] is None
    # the caller's configurable, and the assistant the server adds (as LangGraph's does)
    assert kwargs["config"]["configurable"] == {"user": "ana", "assistant_id": ANY}
    assert kwargs["temporary"] is False and kwargs["on_disconnect"] == "cancel"


async def test_options_this_server_cannot_honour_are_refused(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"feedback_keys": ["score"]}, "feedback_keys"),
        ({"langsmith_tracer": {"project_name": "p"}}, "langsmith_tracer"),
        ({"strict_resume": False}, "strict_resume"),
        ({"on_completion": "keep"}, "on_completion"),  # on a thread
        ({"checkpoint_during": True, "durability": "sync"}, "checkpoint_during"),
        ({"checkpoint": {"checkpoint_ns": "inner:1", "checkpoint_id": "x"}}, "checkpoint"),
    ]
    async with httpx.AsyncClient(base_url=server.url) as http:
        for extra, field in cases:
            body = {"assistant_id": "steps", "input": {}, **extra}
            answer = await http.post(f"/threads/{tid}/runs/wait", json=body)
            assert answer.status_code == 422, (extra, answer.text)
            assert field in answer.json()["detail"], (field, answer.text)
    assert await client.runs.list(tid) == []
    done = await client.runs.wait(tid, "steps", input={}, durability="exit", strict_resume=True)
    assert done["said"] == ["a", "b", "c"]


async def test_after_seconds_keeps_a_run_pending_until_then(server: ServerThread) -> None:
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    later = await client.runs.create(tid, "steps", input={}, after_seconds=3600)
    assert later["kwargs"]["after_seconds"] == 3600
    assert (await client.runs.get(tid, later["run_id"]))["status"] == "pending"
    assert (await client.threads.get(tid))["status"] == "busy"
    await client.runs.cancel(tid, later["run_id"], wait=True)
    assert (await client.runs.get(tid, later["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get_state(tid))["values"] == {}  # it never ran
