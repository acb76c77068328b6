"""A graph as LangGraph's server describes it: drawn (nodes and edges) and as JSON Schemas.

`drawing` is ``graph.get_graph(xray=...).to_json()`` with each node's ``data.id`` (the
Python class path of its runnable) removed, as LangGraph's server answers it.
`graph_schemas` follows LangGraph's server (``langgraph_api.api.assistants``): each
schema is None when the graph's types have no JSON Schema, with two differences that
make the answer more useful here: the input schema of a registered graph is its input
model (what a run of it accepts: the engine validates input with that model), and when
the graph has no output schema of its own and LangGraph cannot write one, the output
schema is the state schema (a graph's output is its state). The config and context
schemas of this server's graphs are None: their runtime context is the engine's
resources, which no caller sends.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

logger = logging.getLogger(__name__)

_SERVER_CONFIGURABLE = ("__pregel_checkpointer", "__pregel_store", "checkpoint_id",
                        "checkpoint_ns", "thread_id")  # fmt: skip


def drawing(graph: Any, xray: bool | int) -> dict[str, Any]:
    """The graph's nodes and edges (subgraphs drawn `xray` levels deep)."""
    drawn: dict[str, Any] = graph.get_graph(xray=xray).to_json()
    for node in drawn.get("nodes", []):
        data = node.get("data")
        if isinstance(data, dict):
            data.pop("id", None)
    return drawn


def _attempt(what: str, graph: Any, make: Callable[[], Any]) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return make()
    except Exception as exc:  # a type without a JSON Schema: LangGraph answers None too
        logger.debug("no %s schema for graph %s: %s", what, graph.get_name(), exc)
        return None


def _state(graph: Any) -> dict[str, Any]:
    from langchain_core.runnables.utils import create_model

    fields: dict[str, Any] = {}
    for key in graph.stream_channels_list:
        kind = graph.channels[key].UpdateType
        try:
            create_model(key, __root__=(kind, None)).model_json_schema()
            fields[key] = (kind, None)
        except Exception:
            fields[key] = (Any, None)
    schema: dict[str, Any] = create_model(graph.get_name("State"), **fields).model_json_schema()
    return schema


def _configurable(graph: Any) -> dict[str, Any]:
    fields = getattr(graph.config_schema(), "model_fields", None) or {}
    if "configurable" not in fields:
        return {}
    annotation: Any = fields["configurable"].annotation
    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    for key in _SERVER_CONFIGURABLE:
        schema.get("properties", {}).pop(key, None)
    return schema


def graph_schemas(graph: Any, input_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """input, output, state, config and context schemas of a compiled graph (see the
    module doc); `input_schema` replaces LangGraph's input schema when given."""
    state = _attempt("state", graph, lambda: _state(graph))
    output = _attempt("output", graph, graph.get_output_jsonschema)
    builder = getattr(graph, "builder", None)
    if output is None and builder is not None and builder.output_schema is builder.state_schema:
        output = state
    return {
        "input_schema": input_schema or _attempt("input", graph, graph.get_input_jsonschema),
        "output_schema": output,
        "state_schema": state,
        "config_schema": _attempt("config", graph, lambda: _configurable(graph)),
        "context_schema": _attempt("context", graph, graph.get_context_jsonschema),
    }


def subgraph_schemas(graph: Any, namespace: str | None, recurse: bool) -> dict[str, Any]:
    """The schemas of the graph's subgraphs by namespace (``get_subgraphs``)."""
    return {
        ns: graph_schemas(subgraph)
        for ns, subgraph in graph.get_subgraphs(namespace=namespace, recurse=recurse)
    }
