"""Shared helpers of the HTTP service's tests: serve an app over ASGI, read an event
stream, and graphs that fail in the ways the service must answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel
from starlette.applications import Starlette
from typing_extensions import TypedDict

from graphs import GraphRegistry, GraphSpec
from graphs.engine.errors import InvalidInputError
from graphs.workflows import deal_review
from nodes.context import Resources


class _BoomState(TypedDict, total=False):
    n: int


class _BoomInput(BaseModel):
    n: int = 1


def _one_node_graph(node: Any) -> Any:
    def build() -> StateGraph[Any, Any, Any, Any]:
        graph: StateGraph[Any, Any, Any, Any] = StateGraph(_BoomState, context_schema=Resources)
        graph.add_node("only", node)
        graph.add_edge(START, "only")
        graph.add_edge("only", END)
        return graph

    return build


class Opaque:
    """A value the JSON encoder has no rule for."""


def exploding_registry() -> GraphRegistry:
    """deal_review; `boom`, whose (unisolated) node raises with a secret in its message;
    `refuse`, whose node raises InvalidInputError after the input was accepted; and
    `opaque`, whose result holds a value with no JSON form."""

    async def explode(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        raise RuntimeError("secret-db-password-in-message")

    async def refuse(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        raise InvalidInputError("refuse", ["n: refused by the graph"])

    async def unencodable(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        return {"n": Opaque()}

    boom = GraphSpec(name="boom", description="always fails",
                     build=_one_node_graph(explode), input_model=_BoomInput)  # fmt: skip
    refusing = GraphSpec(name="refuse", description="refuses every input",
                         build=_one_node_graph(refuse), input_model=_BoomInput)  # fmt: skip
    opaque = GraphSpec(name="opaque", description="answers a value JSON cannot hold",
                       build=_one_node_graph(unencodable), input_model=_BoomInput)  # fmt: skip
    return GraphRegistry([deal_review.SPEC, boom, refusing, opaque])


@asynccontextmanager
async def serving(
    app: Starlette, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give a client that talks to it over ASGI (as
    ``localhost``, a Host the app answers to; sending `headers` with every request)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", timeout=30, headers=headers
        ) as client:
            yield client


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, decoded data) pairs of a text/event-stream body (keep-alive comments,
    lines starting with ':', are skipped)."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = [ln for ln in block.splitlines() if ": " in ln and not ln.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines)
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events
