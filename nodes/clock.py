"""The review's "now": the run's ``as_of``, else the warehouse's recorded epoch, else the clock.

A real warehouse is reviewed against the current time. The demo warehouse was generated
around a fixed epoch and records it in a small metadata table (`METADATA_TABLE`, rows of
``key``/``value``; key `EPOCH_KEY`), so a run on it without ``as_of`` reads as of that
epoch. Times are compared as naive UTC; the answer says where it came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from nodes.context import Resources

METADATA_TABLE = "sophia_metadata"
EPOCH_KEY = "demo_epoch"


@dataclass(frozen=True)
class AsOf:
    """The time a review is as of, and why: ``input``, ``warehouse`` or ``clock``."""

    at: dt.datetime
    source: str

    def as_dict(self) -> dict[str, str]:
        """``{"at": ISO time, "source": ...}`` for reports."""
        return {"at": self.at.isoformat(timespec="seconds"), "source": self.source}


def parse_time(value: str | dt.date | dt.datetime) -> dt.datetime:
    """An ISO date or datetime as naive UTC (a date means the start of that day, UTC).

    ValueError (naming the value) when it is neither.
    """
    if isinstance(value, dt.datetime):
        return naive_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    text = str(value).strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date or datetime (e.g. 2026-11-01 or 2026-11-01T09:00:00Z)"
        ) from None
    return naive_utc(parsed)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC without its zone (naive values are taken to be UTC already)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def now_utc() -> dt.datetime:
    """The current time, naive UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


async def review_time(state: Any, runtime: Runtime[Resources]) -> AsOf:
    """The run's as-of time (see the module doc). Reading the epoch is one cached,
    coalesced lookup, however many nodes ask in the same tick."""
    given = state.get("as_of")
    if given:
        return AsOf(parse_time(given), "input")
    wh = runtime.context.warehouse
    if METADATA_TABLE in await wh.catalog():
        rows = await wh.loader(METADATA_TABLE, "key").load(EPOCH_KEY)
        if rows and rows[0].get("value"):
            try:
                return AsOf(parse_time(rows[0]["value"]), "warehouse")
            except ValueError:
                pass  # a malformed epoch: the clock is the honest fallback
    started = state.get("requested_at")
    return AsOf(parse_time(started) if started else now_utc(), "clock")


def days_between(earlier: Any, now: dt.datetime) -> int | None:
    """Whole days from `earlier` (a datetime or date) to `now`; never negative (an event
    after the as-of time counts as today); None when `earlier` is not a time."""
    if isinstance(earlier, dt.datetime):
        when = naive_utc(earlier)
    elif isinstance(earlier, dt.date):
        when = dt.datetime(earlier.year, earlier.month, earlier.day)
    else:
        return None
    return max(0, (now - when).days)
