"""Searching, paging and writing of the LangGraph API's listings (assistants, crons),
and who may write.

LangGraph's server sorts by the requested field (default ``created_at``, newest first),
pages with offset/limit, answers ``X-Pagination-Total`` (and ``X-Pagination-Next``, the
next offset, when there is more), and with ``select`` answers only those fields.
`writer` is the caller of a route that creates, changes or deletes: a read-only caller
gets 403.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request

from graphs.server.caller import Caller, caller_of
from graphs.server.langgraph_api.errors import ApiError


def writer(request: Request) -> Caller:
    """The request's caller, who means to write; ApiError 403 for a read-only one."""
    caller = caller_of(request)
    if caller.read_only:
        raise ApiError(403, "this caller is read-only: it may not create, change or delete")
    return caller


def sort_rows(
    rows: list[dict[str, Any]],
    sort_by: str | None,
    sort_order: str | None,
    *,
    text_fields: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """`rows` sorted by `sort_by` (default ``created_at``), descending unless
    ``sort_order='asc'``; `text_fields` sort case-insensitively, missing values first."""
    key = sort_by or "created_at"
    reverse = sort_order != "asc"

    def value(row: Mapping[str, Any]) -> tuple[bool, Any]:
        v = row.get(key)
        if v is None:
            return (False, "")
        return (True, str(v).lower() if key in text_fields else v)

    return sorted(rows, key=value, reverse=reverse)


def page(
    rows: list[dict[str, Any]], offset: int, limit: int, select: Sequence[str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rows of one page (only the `select` fields, when given) and the pagination
    headers."""
    chunk = rows[offset : offset + limit]
    if select:
        chunk = [{k: v for k, v in row.items() if k in select} for row in chunk]
    headers = {"X-Pagination-Total": str(len(rows))}
    if len(rows) > offset + limit:
        headers["X-Pagination-Next"] = str(offset + limit)
    return chunk, headers
