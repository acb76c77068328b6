"""The one JSON encoder of the HTTP service: every route, every stream event.

`dumps` / `encode` write compact UTF-8 JSON (``ensure_ascii=False``). Values JSON has no
type for are written by one rule each, and anything else is refused, never written as a
Python repr:

==============================  =========================================================
datetime, date, time            ISO 8601 text (``isoformat()``; an aware time keeps its
                                offset)
timedelta                       seconds, as a number
Decimal                         its exact decimal text, e.g. ``"12.50"`` (as pydantic
                                does: a float would round it)
UUID                            its canonical text
Enum                            its ``value`` (encoded by these same rules)
set, frozenset                  an array, sorted when the items compare
bytes, bytearray, memoryview    standard base64 text (lossless; bytes are not text)
numpy arrays and scalars        ``tolist()``: nested arrays of Python numbers
pydantic models                 an object of their fields (by alias) and extras, each
                                written by these same rules; a RootModel its root
LangGraph ``Interrupt``         ``{"value": ..., "id": ...}`` (as LangGraph's server)
dataclass instances             an object of their fields
other mappings                  an object
float NaN and +/-infinity       ``null`` (JSON has no such numbers)
anything else                   `EncodingError` (a TypeError): a bug in whoever put the
                                value there, answered as a 500 that names the type only
==============================  =========================================================
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from langgraph.types import Interrupt
from pydantic import BaseModel, RootModel
from starlette.responses import JSONResponse

from stores.errors import SophiaError

__all__ = ["JSON", "EncodingError", "dumps", "encode", "finite", "to_json"]


class EncodingError(SophiaError, TypeError):
    """A value has no JSON form under the encoder's rules (the message names its type)."""


def _sorted_if_possible(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def to_json(value: Any) -> Any:
    """The JSON-ready stand-in for one value `json` cannot write (see the module's table).

    The result may itself hold such values; the encoder applies this again to them.
    """
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return _sorted_if_possible(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if type(value).__module__.startswith("numpy") and hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, RootModel):
        return value.root
    if isinstance(value, BaseModel):
        return _model_fields(value)
    if isinstance(value, Interrupt):
        return {"value": value.value, "id": value.id}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    raise EncodingError(f"no JSON form for a value of type {type(value).__name__}")


def _model_fields(model: BaseModel) -> dict[str, Any]:
    """A model's fields (by their serialization alias) and extras, shallow: the values
    are written by these same rules, not pydantic's."""
    fields = {
        info.serialization_alias or info.alias or name: getattr(model, name)
        for name, info in type(model).model_fields.items()
    }
    return {**fields, **(model.model_extra or {})}


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float (in dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


# Stateless and reused: building an encoder per call costs more than encoding a small body.
_STRICT = json.JSONEncoder(
    default=to_json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)
_FINITE = json.JSONEncoder(
    default=lambda v: finite(to_json(v)),
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,
)


def dumps(value: Any) -> str:
    """Compact JSON text of `value`; EncodingError for a value without a JSON form."""
    try:
        return _STRICT.encode(value)
    except ValueError:  # a NaN or infinity somewhere (rare): write those as null
        return _FINITE.encode(finite(value))
    except EncodingError:
        raise
    except TypeError as exc:  # e.g. a dict key that is not a string or number
        raise EncodingError(f"no JSON form: {exc}") from exc


def encode(value: Any) -> bytes:
    """`dumps` as UTF-8 bytes."""
    return dumps(value).encode("utf-8")


class JSON(JSONResponse):
    """The JSON response of every route, written by `encode`."""

    def render(self, content: Any) -> bytes:
        return encode(content)
