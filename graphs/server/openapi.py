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

Each operation says who may call it (`Operation.access`): ``public`` (anyone: health),
``read`` (any authenticated caller) or ``write`` (a caller that is not read-only); by
default GET reads and every other method writes. `ApiRoute` enforces it with the caller
the authentication middleware left in the request (`graphs.server.auth`): 401 without
one, 403 for a read-only caller on a write, answered in the route's own error body
(`ErrorStyle`). The document declares the two ways to authenticate (``x-api-key`` and
``Authorization: Bearer``), requires them everywhere but on public operations, and lists
the 401/403 answers of each operation that needs them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, create_model
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from graphs.engine.registry import GraphSpec
from graphs.server.auth import FAILURE_KEY, AuthFailure
from graphs.server.caller import caller_of
from graphs.server.errors import HttpError
from graphs.server.models import ErrorBody
from stores.errors import SophiaError

__all__ = [
    "Access",
    "Answer",
    "ApiRoute",
    "ErrorStyle",
    "Operation",
    "UndocumentedRouteError",
    "openapi_document",
]

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
Mode = Literal["validation", "serialization"]
Access = Literal["public", "read", "write"]
SECURITY_SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
               "description": "An API key (`sophia keys create`), as the LangGraph SDK sends it."},
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API key, or a JWT when the server is configured for them."},
}  # fmt: skip


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


def partial_model(model: type[BaseModel], name: str) -> type[BaseModel]:
    """`model` with every field optional: the schema of an answer that a ``select``
    parameter may trim to some of its fields."""
    fields: dict[str, Any] = {
        field_name: (info.annotation | None, None)  # type: ignore[operator]
        for field_name, info in model.model_fields.items()
    }
    partial: type[BaseModel] = create_model(name, __doc__=(
        f"{model.__name__} with only the fields ``select`` names (all when it is absent)."
    ), **fields)  # fmt: skip
    return partial


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
    body_media_type: str = "application/json"
    query: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    per_graph: bool = False
    access: Access | None = None
    """Who may call it (see the module docstring); None: GET reads, others write."""


@dataclass(frozen=True)
class ErrorStyle:
    """How a route answers a refusal: its error body `model`, and `respond(status, code,
    message, headers)` building the response."""

    model: type[BaseModel]
    respond: Callable[[int, str, str, Mapping[str, str]], Response]


def _own_error(status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
    return HttpError(status, code, message, headers=dict(headers)).response()


OWN_ERRORS = ErrorStyle(ErrorBody, _own_error)
"""The service's own ``{"error", "message"}`` bodies."""


class ApiRoute(Route):
    """A Starlette route for one method that carries its `Operation` and enforces its
    `Operation.access` before the endpoint runs."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response]],
        *,
        method: str,
        operation: Operation,
        errors: ErrorStyle | None = None,
        unauthenticated: Callable[[Scope], Response] | None = None,
    ) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method.lower()
        self.operation = operation
        self.errors = errors or OWN_ERRORS
        self.unauthenticated = unauthenticated
        self.access: Access = operation.access or ("read" if self.method == "get" else "write")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401/403 per `access`, else the endpoint."""
        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await super().handle(scope, receive, send)

    def refusal(self, scope: Scope) -> Response | None:
        """The answer refusing this request, or None when its caller may go on."""
        if self.access == "public":
            return None
        failure = scope.get(FAILURE_KEY)
        if isinstance(failure, AuthFailure):
            if failure.status == 401 and self.unauthenticated is not None:
                return self.unauthenticated(scope)
            headers = {"WWW-Authenticate": 'Bearer realm="sophia"'} if failure.status == 401 \
                else {"Retry-After": "1"}
            code = "unauthorized" if failure.status == 401 else "unavailable"
            return self.errors.respond(failure.status, code, failure.message, headers)
        if self.access == "write" and caller_of(Request(scope)).read_only:
            message = f"this key is read-only: {self.method.upper()} {self.path} changes data"
            return self.errors.respond(403, "forbidden", message, {})
        return None


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


def _answers(route: ApiRoute) -> dict[int, Answer]:
    """The route's answers, with the refusals its access adds."""
    answers = dict(route.operation.answers)
    if route.access != "public":
        model = route.errors.model
        answers.setdefault(401, Answer("No valid credentials.", model,
                                       headers=("WWW-Authenticate",)))  # fmt: skip
        answers.setdefault(403, Answer(
            "The key may not use this graph, or is read-only and this changes data.", model))
    return dict(sorted(answers.items()))


def _models(routes: Sequence[ApiRoute], specs: Sequence[GraphSpec]) -> set[tuple[Any, Mode]]:
    wanted: set[tuple[Any, Mode]] = {(spec.input_model, "validation") for spec in specs}
    for route in routes:
        op = route.operation
        if op.body is not None:
            wanted.add((op.body, "validation"))
        for answer in _answers(route).values():
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
            "content": {op.body_media_type: {"schema": refs[body, "validation"]}},
        }
    out["responses"] = {str(status): _content(a, refs) for status, a in _answers(route).items()}
    if route.access == "public":
        out["security"] = []
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
        "components": {"schemas": top.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
        "security": [{"apiKey": []}, {"bearer": []}],
    }


def _model_key(item: tuple[Any, Mode]) -> tuple[str, str, str]:
    model, mode = item
    return (model.__module__, model.__qualname__, mode)
