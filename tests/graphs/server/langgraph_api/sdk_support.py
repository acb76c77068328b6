"""What the LangGraph SDK API tests share: small graphs that show what a run was given,
a caller chosen per request (standing in for the authentication middleware, which sets
the same `Caller` in the request scope), and a live server."""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send
from typing_extensions import TypedDict

from graphs import GraphRegistry, GraphSpec
from graphs.server.app import create_app
from graphs.server.caller import SCOPE_KEY, Caller
from graphs.workflows import deal_review
from stores.settings import Settings
from tests.graphs.server.live_server import ServerThread


class EchoState(TypedDict, total=False):
    word: str
    said: Annotated[list[str], operator.add]
    tags: list[str]


class EchoInput(BaseModel):
    word: str = "hello"


def _echo_graph() -> StateGraph[Any, Any, Any, Any]:
    def echo(state: EchoState, config: RunnableConfig) -> dict[str, Any]:
        configurable = config.get("configurable", {})
        said = configurable.get("word", state.get("word", ""))
        return {"said": [said], "tags": list(config.get("tags", []))}

    graph: StateGraph[Any, Any, Any, Any] = StateGraph(EchoState)
    graph.add_node("echo", echo)
    graph.add_edge(START, "echo")
    graph.add_edge("echo", END)
    return graph


def _nested_graph() -> StateGraph[Any, Any, Any, Any]:
    inner = _echo_graph().compile(name="inner")
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(EchoState)
    graph.add_node("outer", lambda state: {"said": ["outer"]})
    graph.add_node("inner", inner)
    graph.add_edge(START, "outer")
    graph.add_edge("outer", "inner")
    graph.add_edge("inner", END)
    return graph


ECHO = GraphSpec(name="echo", description="says the configured word",
                 build=_echo_graph, input_model=EchoInput,
                 goto_targets=frozenset({"echo"}))  # fmt: skip
NESTED = GraphSpec(name="nested", description="echo inside a graph",
                   build=_nested_graph, input_model=EchoInput)  # fmt: skip


def registry() -> GraphRegistry:
    """deal_review, echo (says config['configurable']['word'] or its input's word, and
    reports its run's tags; a state update may be written as its node) and nested (echo
    as a subgraph)."""
    return GraphRegistry([deal_review.SPEC, ECHO, NESTED])


class CallerFromHeaders:
    """Test middleware: ``x-test-tenant``, ``x-test-read-only: 1``, ``x-test-graphs:
    a,b`` choose the request's `Caller` (no header: the open caller)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            tenant = headers.get("x-test-tenant")
            if tenant is not None:
                graphs = headers.get("x-test-graphs")
                scope[SCOPE_KEY] = Caller(
                    tenant=tenant,
                    subject=f"user-of-{tenant}",
                    read_only=headers.get("x-test-read-only") == "1",
                    graphs=frozenset(graphs.split(",")) if graphs else None,
                )
        await self.app(scope, receive, send)


def as_tenant(tenant: str, *, read_only: bool = False, graphs: str | None = None) -> dict[str, str]:
    """The headers that make a request `tenant`'s (see `CallerFromHeaders`)."""
    headers = {"x-test-tenant": tenant}
    if read_only:
        headers["x-test-read-only"] = "1"
    if graphs is not None:
        headers["x-test-graphs"] = graphs
    return headers


@contextlib.contextmanager
def live(settings: Settings, **options: Any) -> Iterator[ServerThread]:
    """The service on a loopback port with `registry()` and `CallerFromHeaders`."""
    app = create_app(settings, registry=registry(), **options)
    # Innermost, after the service's own authentication (open here: no key exists), so
    # the test's caller is the one the routes see.
    app.user_middleware.append(Middleware(CallerFromHeaders))
    with ServerThread(app) as server:
        server.app = app  # type: ignore[attr-defined]  # the tests read its state
        yield server
