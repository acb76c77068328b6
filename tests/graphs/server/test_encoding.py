"""The service's one JSON encoder: a rule per type JSON lacks, and no repr ever."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from langgraph.types import Interrupt
from pydantic import BaseModel, ConfigDict, Field, RootModel

from graphs.server.encoding import JSON, EncodingError, dumps
from stores.errors import SophiaError


class Color(enum.Enum):
    RED = "red"


class Point(BaseModel):
    x: int
    when: dt.date


class Wrapper(BaseModel):
    model_config = ConfigDict(extra="allow")

    inner: Point
    anything: Any
    schema_: str = Field(alias="schema")


class Values(RootModel[dict[str, Any]]):
    pass


@dataclasses.dataclass
class Row:
    deal: str
    amount: Decimal


class Opaque:
    """A type without a JSON rule."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC), "2025-03-01T12:30:00+00:00"),
        (dt.date(2025, 3, 1), "2025-03-01"),
        (dt.time(9, 5), "09:05:00"),
        (dt.timedelta(minutes=1, milliseconds=500), 60.5),
        (Decimal("12.50"), "12.50"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (Color.RED, "red"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (b"\x00\xffbytes", "AP9ieXRlcw=="),
        (np.int64(7), 7),
        (np.array([[1.5, 2.0]]), [[1.5, 2.0]]),
        (Point(x=1, when=dt.date(2025, 1, 2)), {"x": 1, "when": "2025-01-02"}),
        (Interrupt(value={"k": "approval"}, id="i-1"), {"value": {"k": "approval"}, "id": "i-1"}),
        (Row("D-1", Decimal("3")), {"deal": "D-1", "amount": "3"}),
        (
            Wrapper(inner=Point(x=2, when=dt.date(2025, 1, 3)), schema="s/1", extra={1, 2},
                    anything=Interrupt(value=1, id="i", response_schema=Point)),
            {"inner": {"x": 2, "when": "2025-01-03"}, "schema": "s/1", "extra": [1, 2],
             "anything": {"value": 1, "id": "i"}},
        ),
        (Values({"at": dt.date(2025, 1, 4)}), {"at": "2025-01-04"}),
        ({"ratio": float("nan"), "top": [float("inf"), 1.0]}, {"ratio": None, "top": [None, 1.0]}),
    ],
)  # fmt: skip
def test_each_type_has_one_rule(value: Any, expected: Any) -> None:
    text = dumps({"v": value})
    assert json.loads(text) == {"v": expected}
    assert "NaN" not in text and "Infinity" not in text  # strict JSON


@pytest.mark.parametrize("value", [Opaque(), {("tuple", "key"): 1}, object])
def test_a_value_without_a_rule_is_refused_not_written_as_a_repr(value: Any) -> None:
    with pytest.raises(EncodingError) as caught:
        dumps({"result": [value]})
    assert isinstance(caught.value, SophiaError) and isinstance(caught.value, TypeError)
    assert "0x" not in str(caught.value)  # names the type, never the object's repr


def test_the_response_class_writes_compact_utf8() -> None:
    response = JSON({"name": "Zoë", "at": dt.date(2025, 1, 1)})
    assert response.body == '{"name":"Zoë","at":"2025-01-01"}'.encode()
    assert response.headers["content-type"] == "application/json"
