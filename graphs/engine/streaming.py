"""How a streamed run is driven: LangGraph's own ``astream`` (or ``astream_events``) with
the run's options, as ``(namespace, mode, chunk)`` parts.

`StreamOptions` carries what a caller may ask of one run beyond its input, each passed
to LangGraph as it is: ``subgraphs`` (chunks of subgraphs too, with their namespace),
``interrupt_before`` / ``interrupt_after`` (pause before or after those nodes),
``checkpoint_id`` (start from that checkpoint of the thread, as
``config["configurable"]["checkpoint_id"]``), ``durability``, ``context`` (the runtime
context of a graph that declares a context schema of its own) and ``events`` (drive the
run with ``astream_events(version="v2")``: every callback event is a part of mode
``"events"``, the graph's own chunks come out as with ``astream``).

A registered graph's runtime context is normally the engine's shared resources
(`nodes.context.Resources`); a graph whose context schema is another type gets the run's
``context`` instead (`check_context` checks it against that schema before the run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Durability, StreamMode
from pydantic import BaseModel, ValidationError

from graphs.engine.errors import InvalidInputError
from nodes.context import Resources

Part = tuple[tuple[str, ...], str, Any]
"""One streamed part: the namespace (``()`` for the graph itself), the mode, the chunk."""
Interrupts = Sequence[str] | Literal["*"] | None


@dataclass(frozen=True)
class StreamOptions:
    """What one streamed run asks of LangGraph beyond its input (module docstring)."""

    subgraphs: bool = False
    interrupt_before: Interrupts = None
    interrupt_after: Interrupts = None
    checkpoint_id: str | None = None
    durability: Durability | None = None
    context: Any = None
    events: bool = False


def own_context_schema(graph: Any) -> type | None:
    """The graph's context schema when it is its own (not the engine's resources), else
    None."""
    schema = getattr(getattr(graph, "builder", None), "context_schema", None)
    return None if schema is None or schema is Resources else schema


def check_context(graph: Any, graph_name: str, context: Any) -> Any:
    """`context` checked against the graph's own context schema (InvalidInputError naming
    each problem); None when the graph takes the engine's resources as its context."""
    schema = own_context_schema(graph)
    if schema is None:
        return None
    if not isinstance(context, dict):
        raise InvalidInputError(graph_name, ["context: must be an object"])
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            schema.model_validate(context)
        elif dataclasses.is_dataclass(schema):
            fields = dataclasses.fields(schema)
            problems = [f"context.{k}: unknown key"
                        for k in sorted(set(context) - {f.name for f in fields})]  # fmt: skip
            problems += [f"context.{f.name}: required" for f in fields if f.name not in context
                         and f.default is dataclasses.MISSING
                         and f.default_factory is dataclasses.MISSING]  # fmt: skip
            if problems:
                raise InvalidInputError(graph_name, problems)
            schema(**context)
    except InvalidInputError:
        raise
    except ValidationError as exc:
        problems = [f"context.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                    for e in exc.errors()]  # fmt: skip
        raise InvalidInputError(graph_name, problems) from exc
    except (TypeError, ValueError) as exc:  # the schema's own checks
        raise InvalidInputError(graph_name, ["context: the graph's context schema refuses "
                                             f"it ({type(exc).__name__})"]) from exc
    return context


def check_nodes(graph: Any, graph_name: str, field: str, nodes: Interrupts) -> None:
    """InvalidInputError unless `nodes` (``"*"`` or node names) are nodes of the graph."""
    if nodes is None or nodes == "*":
        return
    known = {n for n in graph.nodes if not n.startswith("__")}
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise InvalidInputError(graph_name, [
            f"{field}: no node named {', '.join(map(repr, unknown))} "
            f"(nodes: {', '.join(sorted(known))})"
        ])  # fmt: skip


async def graph_parts(
    graph: Any,
    graph_input: Any,
    *,
    modes: Sequence[StreamMode],
    config: RunnableConfig,
    context: Any,
    durability: Durability | None,
    options: StreamOptions,
) -> AsyncIterator[Part]:
    """The parts of one run of compiled `graph` (see the module docstring)."""
    kwargs: dict[str, Any] = {
        "context": context,
        "stream_mode": list(modes),
        "config": config,
        "durability": options.durability or durability,
        "subgraphs": options.subgraphs,
        "interrupt_before": options.interrupt_before,
        "interrupt_after": options.interrupt_after,
    }
    if not options.events:
        async for item in graph.astream(graph_input, **kwargs):
            yield _part(item)
        return
    root = str(config.get("run_id")) if config.get("run_id") is not None else None
    async for event in graph.astream_events(graph_input, version="v2", **kwargs):
        if event["event"] == "on_chain_stream" and event["run_id"] == root:
            yield _part(event["data"]["chunk"])
        else:
            yield (), "events", event


def _part(item: tuple[Any, ...]) -> Part:
    """``(ns, mode, chunk)`` from what LangGraph streams with several modes: that, or
    ``(mode, chunk)`` without subgraphs."""
    if len(item) == 3:
        return tuple(item[0]), item[1], item[2]
    return (), item[0], item[1]
