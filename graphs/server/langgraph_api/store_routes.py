"""The LangGraph API's store routes: put, get and delete an item, search (``query`` for
semantic search, on the store's HNSW index), list namespaces.

As LangGraph's server answers them: a put or delete answers 204, a missing item
``null``, a search ``{"items": [...]}`` (each with its ``score``, None without a query),
the namespaces ``{"namespaces": [[...]]}``; ``ttl`` is minutes. The store is the app's
`graphs.server.langgraph_api.api_store`; each tenant sees only its own items (its label
is added to every namespace on the way in and removed on the way out). A bad namespace
(a label with ``.``, an empty one), filter operator or ttl is a 422 naming it.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.store.base import InvalidNamespaceError, Item, SearchItem
from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.langgraph_api.api_store import ApiStore, tenant_label
from graphs.server.langgraph_api.endpoint import TAG, sdk_route
from graphs.server.langgraph_api.errors import ApiError, Detail
from graphs.server.langgraph_api.listing import writer
from graphs.server.langgraph_api.models import Limit, Offset
from graphs.server.openapi import Answer, Operation
from stores.memory.errors import MemoryStoreError
from stores.memory.store import MemoryStore

Labels = list[str]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorePut(_Body):
    """``PUT /store/items``."""

    namespace: Labels
    key: str = Field(min_length=1)
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = Field(
        None, description="None: the store's fields; false: not searchable by query; or "
        "the fields to embed."
    )  # fmt: skip
    ttl: float | None = Field(None, description="Minutes; null: the store's default TTL.")


class StoreDelete(_Body):
    """``DELETE /store/items``."""

    namespace: Labels = Field(default_factory=list)
    key: str = Field(min_length=1)


class StoreGet(BaseModel):
    """``GET /store/items`` query."""

    namespace: str = Field(description="Labels joined with '.'.")
    key: str = Field(min_length=1)
    refresh_ttl: Literal["true", "false", "True", "False"] | None = None


class StoreSearch(_Body):
    """``POST /store/items/search``."""

    namespace_prefix: Labels | None = None
    filter: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0
    query: str | None = Field(None, description="Semantic search on the HNSW index.")
    refresh_ttl: bool | None = None


class StoreNamespaces(_Body):
    """``POST /store/namespaces``."""

    prefix: Labels | None = None
    suffix: Labels | None = None
    max_depth: int | None = Field(None, ge=1, le=100)
    limit: int = Field(100, ge=0, le=1000)
    offset: int = Field(0, ge=0)


class StoreItem(BaseModel):
    """An item: its namespace (without the tenant's label), key, value and times."""

    namespace: Labels
    key: str
    value: dict[str, Any]
    created_at: str
    updated_at: str


class StoreSearchItem(StoreItem):
    """A found item and its score (None when the search had no query)."""

    score: float | None = None


class StoreItemOrNull(RootModel[StoreItem | None]):
    """The item, or null when there is none."""


class StoreSearchItems(BaseModel):
    """``{"items": [...]}``."""

    items: list[StoreSearchItem]


class StoreNamespaceList(BaseModel):
    """``{"namespaces": [[...], ...]}``."""

    namespaces: list[Labels]


# -- handlers ---------------------------------------------------------------------------
def _store(request: Request) -> MemoryStore:
    services: ApiStore | None = getattr(request.app.state, "sdk_store", None)
    if services is None:
        raise ApiError(503, "the store is not open (the app's lifespan did not run)")
    return services.scoped()


def _label(request: Request) -> str:
    return tenant_label(caller_of(request).tenant)


def _checked(labels: list[str] | None, what: str) -> list[str]:
    """`labels`, or a 422 naming the first that LangGraph's store does not allow (checked
    here, before the tenant's label is added, so an error never shows that label)."""
    for position, label in enumerate(labels or []):
        if not label or "." in label or "\x00" in label:
            raise ApiError(422, f"{what}[{position}]: a namespace label must be a non-empty "
                           "string without '.' or NUL")  # fmt: skip
    return list(labels or [])


def _item(item: Item | SearchItem, search: bool = False) -> dict[str, Any]:
    out = item.dict()
    out["namespace"] = list(item.namespace[1:])  # without the tenant's label
    if not search:
        out.pop("score", None)
    return out


async def _calling(call: Any) -> Any:
    try:
        return await call
    except (MemoryStoreError, InvalidNamespaceError) as exc:  # a bad namespace, filter, ttl
        raise ApiError(422, str(exc)) from exc


async def put_item(request: Request, body: StorePut) -> Response:
    """``PUT /store/items``: store or replace the item."""
    label = tenant_label(writer(request).tenant)
    # No ttl: the store's default TTL (LangGraph's NOT_PROVIDED), not "never expires".
    ttl: dict[str, Any] = {} if body.ttl is None else {"ttl": body.ttl}
    namespace = _checked(body.namespace, "namespace")
    if not namespace:
        raise ApiError(422, "namespace: an item needs a namespace of at least one label")
    await _calling(_store(request).aput((label, *namespace), body.key, body.value,
                                        index=body.index, **ttl))  # fmt: skip
    return Response(status_code=204)


async def get_item(request: Request, query: StoreGet) -> Response:
    """``GET /store/items?namespace=a.b&key=k``: the item, or null."""
    labels = _checked(query.namespace.split(".") if query.namespace else [], "namespace")
    refresh = None if query.refresh_ttl is None else query.refresh_ttl.lower() == "true"
    found = await _calling(
        _store(request).aget((_label(request), *labels), query.key, refresh_ttl=refresh)
    )
    return JSON(None if found is None else _item(found))


async def delete_item(request: Request, body: StoreDelete) -> Response:
    """``DELETE /store/items``: delete the item (nothing if there is none)."""
    label = tenant_label(writer(request).tenant)
    await _calling(_store(request).adelete((label, *_checked(body.namespace, "namespace")),
                                           body.key))  # fmt: skip
    return Response(status_code=204)


async def search_items(request: Request, body: StoreSearch) -> Response:
    """``POST /store/items/search``: items under the prefix, by query when given."""
    found = await _calling(_store(request).asearch(
        (_label(request), *_checked(body.namespace_prefix, "namespace_prefix")),
        query=body.query, filter=body.filter,
        limit=body.limit, offset=body.offset, refresh_ttl=body.refresh_ttl,
    ))  # fmt: skip
    return JSON({"items": [_item(i, search=True) for i in found]})


async def list_namespaces(request: Request, body: StoreNamespaces) -> Response:
    """``POST /store/namespaces``: namespaces holding items, filtered and paged."""
    found = await _calling(_store(request).alist_namespaces(
        prefix=(_label(request), *_checked(body.prefix, "prefix")),
        suffix=tuple(_checked(body.suffix, "suffix")) or None,
        max_depth=None if body.max_depth is None else body.max_depth + 1,
        limit=body.limit, offset=body.offset,
    ))  # fmt: skip
    return JSON({"namespaces": [list(ns[1:]) for ns in found]})


def store_routes() -> list[BaseRoute]:
    """The store routes of the LangGraph API."""
    errors = {
        403: Answer("The caller is read-only.", Detail),
        413: Answer("The body is over 1 MiB.", Detail),
        422: Answer("A bad namespace, filter, ttl or body (the detail names it).", Detail),
        503: Answer("The store is not open in this process (the detail says why).", Detail),
    }
    done = {204: Answer("Done.")}
    return [
        sdk_route("/store/items", "PUT", put_item, Operation(
            "sdk_store_put", "Store or replace an item", TAG, {**done, **errors}, body=StorePut,
        )),
        sdk_route("/store/items", "GET", get_item, Operation(
            "sdk_store_get", "One item, or null", TAG,
            {200: Answer("The item, or null.", StoreItemOrNull), **errors}, query=StoreGet,
        )),
        sdk_route("/store/items", "DELETE", delete_item, Operation(
            "sdk_store_delete", "Delete an item", TAG, {**done, **errors}, body=StoreDelete,
        )),
        sdk_route("/store/items/search", "POST", search_items, Operation(
            "sdk_store_search", "Items under a namespace prefix; semantic with a query", TAG,
            {200: Answer("The items.", StoreSearchItems), **errors}, body=StoreSearch,
        ), access="read"),
        sdk_route("/store/namespaces", "POST", list_namespaces, Operation(
            "sdk_store_namespaces", "Namespaces holding items", TAG,
            {200: Answer("The namespaces.", StoreNamespaceList), **errors},
            body=StoreNamespaces,
        ), access="read"),
    ]  # fmt: skip
