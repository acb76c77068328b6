"""The state of the deal review workflow and the reducers that merge parallel writes."""

from __future__ import annotations

import operator
from typing import Annotated, Any

# typing_extensions' TypedDict: pydantic validates it on Python 3.11 too, which is how the
# LangGraph API checks a command's state update against this schema.
from typing_extensions import TypedDict


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: parallel branches each add their own keys to one dict."""
    return {**(left or {}), **(right or {})}


class NodeError(TypedDict):
    """A branch that failed: which node, what kind of error, and its message."""

    node: str
    error: str
    message: str
    timed_out: bool


class NodeTiming(TypedDict):
    """When a node ran (epoch milliseconds) and for how long."""

    start_ms: float
    end_ms: float
    duration_ms: float
    ok: bool


class DealReviewState(TypedDict, total=False):
    """Everything the deal review carries between supersteps.

    Each source agent writes its own key (``hubspot``, ``gong``, ``slack``, ``linear``:
    a dict keyed by deal id); each analysis node writes its own key; synthesis writes
    ``report``. ``errors`` and ``timings`` collect entries from every branch. ``as_of``
    is the input's as-of time (None: the warehouse's epoch or the clock), ``requested_at``
    the clock when the run was asked for, ``selection`` the input's pipeline filters
    (the `select` node turns them into ``deal_ids``), ``review_as_of`` what synthesis used.
    """

    deal_ids: list[str]
    as_of: str | None
    requested_at: str
    selection: dict[str, Any] | None
    review_as_of: dict[str, str]
    hubspot: dict[str, Any]
    gong: dict[str, Any]
    slack: dict[str, Any]
    linear: dict[str, Any]
    memories: dict[str, Any]
    memory_index: dict[str, Any]
    sales_analysis: dict[str, Any]
    communication_analysis: dict[str, Any]
    project_analysis: dict[str, Any]
    report: dict[str, Any]
    require_approval: bool
    errors: Annotated[list[NodeError], operator.add]
    timings: Annotated[dict[str, NodeTiming], merge_dicts]
