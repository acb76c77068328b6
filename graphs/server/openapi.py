"""The OpenAPI 3.1 document, generated from the mounted routes and their pydantic models.

Every route the service mounts is an `ApiRoute`: a Starlette route that carries its
`Operation` (request body and query models, the answers by status with their models).
`openapi_document` walks the app's routes and writes one operation per route, the
models' JSON Schemas under ``components/schemas``; a route that is not an `ApiRoute`
raises `UndocumentedRouteError`, and `create_app` checks its routes when it builds the
app, so a route cannot exist without its schema.

A route whose path holds ``{name}`` with ``per_graph=True`` (invoke, stream) becomes one
path per registered graph (``/graphs/deal_review/invoke`` ...) whose request body is
that graph's input model, so clients and fuzzers see exactly what each graph accepts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from graphs.engine.registry import GraphSpec
from stores.errors import SophiaError

__all__ = ["Answer", "ApiRoute", "Operation", "UndocumentedRouteError", "openapi_document"]

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
Mode = Literal["validation", "serialization"]


class UndocumentedRouteError(SophiaError):
    """A mounted route carries no `Operation`: it would be missing from the document."""


@dataclass(frozen=True)
class Answer:
    """One documented response: JSON of `model` (an array of them with `many`), text in
    each of `text` media types, or no body when both are empty."""

    description: str
    model: type[BaseModel] | None = None
    many: bool = False
    media_type: str = "application/json"
    text: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    """What one route accepts and answers.

    `body` and `query` are the models the route parses its JSON body and its query
    string with; `headers` the request headers it reads (name: meaning). With
    `per_graph`, ``{name}`` is a graph name, ``{graph}`` in `operation_id` and
    `summary` is replaced by it, and the request body is the graph's input model.
    """

    operation_id: str
    summary: str
    tag: str
    answers: Mapping[int, Answer]
    body: type[BaseModel] | None = None
    body_description: str = ""
    query: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    per_graph: bool = False


class ApiRoute(Route):
    """A Starlette route for one method that carries its `Operation`."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response]],
        *,
        method: str,
        operation: Operation,
    ) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method.lower()
        self.operation = operation


def documented(routes: Iterable[BaseRoute]) -> list[ApiRoute]:
    """`routes`, each an `ApiRoute`; UndocumentedRouteError naming any that is not."""
    out: list[ApiRoute] = []
    for route in routes:
        if not isinstance(route, ApiRoute):
            path = getattr(route, "path", type(route).__name__)
            raise UndocumentedRouteError(
                f"route {path} has no OpenAPI operation: mount it as an ApiRoute"
            )
        out.append(route)
    return out


def _models(routes: Sequence[ApiRoute], specs: Sequence[GraphSpec]) -> set[tuple[Any, Mode]]:
    wanted: set[tuple[Any, Mode]] = {(spec.input_model, "validation") for spec in specs}
    for route in routes:
        op = route.operation
        if op.body is not None:
            wanted.add((op.body, "validation"))
        for answer in op.answers.values():
            if answer.model is not None:
                wanted.add((answer.model, "serialization"))
    return wanted


def _content(answer: Answer, refs: Mapping[tuple[Any, Mode], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.model is not None:
        schema = refs[answer.model, "serialization"]
        if answer.many:
            schema = {"type": "array", "items": schema}
        out["content"] = {answer.media_type: {"schema": schema}}
    elif answer.text:
        out["content"] = {m: {"schema": {"type": "string"}} for m in answer.text}
    if answer.headers:
        out["headers"] = {h: {"schema": {"type": "string"}} for h in answer.headers}
    return out


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(
    route: ApiRoute,
    refs: Mapping[tuple[Any, Mode], Any],
    path: str,
    spec: GraphSpec | None,
) -> dict[str, Any]:
    op = route.operation
    graph = spec.name if spec is not None else ""
    out: dict[str, Any] = {
        "operationId": op.operation_id.format(graph=graph),
        "summary": op.summary.format(graph=graph),
        "tags": [op.tag],
    }
    description = spec.description if spec is not None else op.description
    if description:
        out["description"] = description
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(path)
    ]
    params += [
        {"name": name, "in": "header", "required": False, "description": meaning,
         "schema": {"type": "string"}}
        for name, meaning in op.headers.items()
    ]  # fmt: skip
    if op.query is not None:
        params += _query(op.query)
    if params:
        out["parameters"] = params
    body = spec.input_model if spec is not None else op.body
    if body is not None:
        out["requestBody"] = {
            "required": False,
            "description": op.body_description or "An empty body means {}.",
            "content": {"application/json": {"schema": refs[body, "validation"]}},
        }
    out["responses"] = {str(status): _content(a, refs) for status, a in op.answers.items()}
    return out


def openapi_document(
    routes: Iterable[BaseRoute],
    specs: Iterable[GraphSpec],
    *,
    title: str = "Sophia workflow engine",
    version: str = "0.1.0",
    description: str = "Run Sophia workflows over HTTP: invoke, stream, inspect.",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes` (every one an `ApiRoute`), with each graph of
    `specs` as the request body of its own per-graph paths.

    UndocumentedRouteError when a route carries no operation. A path and method mounted
    twice is described once (Starlette answers with the first).
    """
    api_routes = documented(routes)
    ordered = sorted(specs, key=lambda s: s.name)
    refs, top = models_json_schema(sorted(_models(api_routes, ordered), key=_model_key),
                                   ref_template=_REF)  # fmt: skip
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes:
        targets: list[tuple[str, GraphSpec | None]] = (
            [(route.path.replace("{name}", s.name), s) for s in ordered]
            if route.operation.per_graph
            else [(route.path, None)]
        )
        for path, spec in targets:
            methods = paths.setdefault(path, {})
            if route.method not in methods:
                methods[route.method] = _operation(route, refs, path, spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": top.get("$defs", {})},
    }


def _model_key(item: tuple[Any, Mode]) -> tuple[str, str, str]:
    model, mode = item
    return (model.__module__, model.__qualname__, mode)
