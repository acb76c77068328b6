"""What the run and stream-mode tests share: small graphs (three steps, a gated one the
test opens, a chat model, one with its own context schema), a live server with them
and a webhook host allowed, a small webhook receiver, and bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from pydantic import BaseModel
from starlette.middleware import Middleware
from typing_extensions import TypedDict

from graphs import GraphRegistry, GraphSpec
from graphs.server.app import create_app
from graphs.server.security import SecuritySettings
from stores.settings import Settings
from tests.graphs.server.langgraph_api.sdk_support import ECHO, NESTED, CallerFromHeaders
from tests.graphs.server.live_server import ServerThread

WAIT_S = 60.0
"""The longest a test waits for something the server does (bounded, never timed)."""


class StepState(TypedDict, total=False):
    said: Annotated[list[str], operator.add]
    gate: str
    word: str
    messages: Annotated[list[AnyMessage], add_messages]


class StepInput(BaseModel):
    word: str = "hello"
    gate: str | None = None


def _steps_input(model: StepInput) -> dict[str, Any]:
    return {k: v for k, v in model.model_dump().items() if v is not None}


GATES: dict[str, threading.Event] = {}
ENTERED: dict[str, threading.Event] = {}


def gate(name: str) -> threading.Event:
    """The gate `name` (a gated run waits in node ``wait`` until the test sets it)."""
    return GATES.setdefault(name, threading.Event())


def entered(name: str) -> threading.Event:
    """Set when a gated run named `name` reached its ``wait`` node."""
    return ENTERED.setdefault(name, threading.Event())


def _step(name: str) -> Callable[[StepState], dict[str, Any]]:
    def step(state: StepState) -> dict[str, Any]:
        get_stream_writer()({"step": name})
        return {"said": [name]}

    return step


def _steps_graph() -> StateGraph[Any, Any, Any, Any]:
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(StepState)
    for name in ("a", "b", "c"):
        graph.add_node(name, _step(name))
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "c")
    graph.add_edge("c", END)
    return graph


async def _wait_at_gate(state: StepState) -> dict[str, Any]:
    name = state.get("gate") or "default"
    entered(name).set()
    deadline = time.monotonic() + WAIT_S * 2
    while not gate(name).is_set():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {name} was never opened")
        await asyncio.sleep(0.01)
    return {"said": ["waited"]}


def _gated_graph() -> StateGraph[Any, Any, Any, Any]:
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(StepState)
    graph.add_node("first", _step("first"))
    graph.add_node("wait", _wait_at_gate)
    graph.add_node("after", _step("after"))
    graph.add_edge(START, "first")
    graph.add_edge("first", "wait")
    graph.add_edge("wait", "after")
    graph.add_edge("after", END)
    return graph


REPLY = "hello big world"


async def _talk(state: StepState) -> dict[str, Any]:
    model = GenericFakeChatModel(messages=iter([AIMessage(content=REPLY, id="reply-1")]))
    reply = await model.ainvoke([HumanMessage(state.get("word") or "hi")])
    return {"messages": [reply]}


def _chat_graph() -> StateGraph[Any, Any, Any, Any]:
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(StepState)
    graph.add_node("talk", _talk)
    graph.add_edge(START, "talk")
    graph.add_edge("talk", END)
    return graph


@dataclass
class Greeting:
    user: str
    greeting: str = "hi"


def _greet(state: StepState, runtime: Runtime[Greeting]) -> dict[str, Any]:
    return {"said": [f"{runtime.context.greeting} {runtime.context.user}"]}


def _context_graph() -> StateGraph[Any, Any, Any, Any]:
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(StepState, context_schema=Greeting)
    graph.add_node("greet", _greet)
    graph.add_edge(START, "greet")
    graph.add_edge("greet", END)
    return graph


def _spec(name: str, build: Callable[[], StateGraph[Any, Any, Any, Any]]) -> GraphSpec:
    return GraphSpec(name=name, description=name, build=build, input_model=StepInput,
                     to_state=_steps_input)  # fmt: skip


def registry() -> GraphRegistry:
    """echo and nested (`sdk_support`), steps (a -> b -> c, each writing a custom event),
    gated (first -> wait at the input's gate -> after), chat (a fake chat model says
    `REPLY`) and greet (its context schema is `Greeting`)."""
    return GraphRegistry([
        ECHO, NESTED, _spec("steps", _steps_graph), _spec("gated", _gated_graph),
        _spec("chat", _chat_graph), _spec("greet", _context_graph),
    ])  # fmt: skip


@contextlib.contextmanager
def live(settings: Settings, **options: Any) -> Iterator[ServerThread]:
    """The service with `registry()`, the test caller middleware, and webhooks allowed to
    127.0.0.1."""
    security = SecuritySettings(webhook_hosts="127.0.0.1")
    app = create_app(settings, registry=registry(), security=security,
                     request_timeout_s=WAIT_S * 3, **options)  # fmt: skip
    app.user_middleware.append(Middleware(CallerFromHeaders))
    with ServerThread(app) as server:
        server.app = app  # type: ignore[attr-defined]
        yield server


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (at most `WAIT_S`) until `check()` is true."""
    deadline = time.monotonic() + WAIT_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {WAIT_S:g}s")
        await asyncio.sleep(0.05)


async def reached(name: str) -> None:
    """Wait (bounded) until a gated run named `name` waits at its gate."""
    if not await asyncio.to_thread(entered(name).wait, WAIT_S):
        raise AssertionError(f"the run never reached gate {name}")


class Receiver:
    """A webhook receiver on a loopback port: records each POST's JSON body; answers
    the first `failures` of them with 500."""

    def __init__(self, failures: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                receiver.calls += 1
                ok = receiver.calls > receiver.failures
                if ok:
                    receiver.bodies.append(body)
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def gate_name() -> str:
    """A fresh gate name, so tests sharing a server never share a gate."""
    return f"gate-{uuid.uuid4().hex[:8]}"


async def refusal(call: Callable[[], Awaitable[Any]]) -> tuple[int, str]:
    """The status and ``detail`` of the HTTP error `call` raises (it must raise one)."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await call()
    response = refused.value.response
    return response.status_code, response.json().get("detail", "")
