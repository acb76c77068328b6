"""The safe cache format: round trips of every supported type, foreign bytes refused."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stores.cache import serialization
from stores.cache.errors import CacheSerializationError

INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=True),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=25,
)


def assert_same(a: Any, b: Any) -> None:
    """Equal values of equal types, recursively (so a tuple never comes back as a list)."""
    assert type(a) is type(b) or (isinstance(a, datetime) and isinstance(b, datetime)), (a, b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, datetime):
        # Same instant and offset. (Not `a == b`: PEP 495 makes an ambiguous local time
        # unequal to every datetime of another tzinfo, and ours comes back fixed-offset.)
        if a.tzinfo is not None:
            assert a.timestamp() == b.timestamp()
        assert a.utcoffset() == b.utcoffset()
        assert (a.tzinfo is None) == (b.tzinfo is None)
        assert a.replace(tzinfo=None) == b.replace(tzinfo=None)
    else:
        assert a == b


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_keeps_values_and_types(value: Any) -> None:
    data = serialization.dumps(value)
    assert data[0] == serialization.FORMAT_V1
    assert_same(serialization.loads(data), value)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    )
)
def test_numpy_arrays_round_trip_as_raw_bytes(array: np.ndarray) -> None:
    back = serialization.loads(serialization.dumps(array))
    assert back.dtype == array.dtype.newbyteorder("=") or back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_float32_embedding_is_compact_and_read_only() -> None:
    emb = np.random.default_rng(0).random(1536, dtype=np.float32)
    data = serialization.dumps({"v": emb})
    assert len(data) < 1536 * 4 + 64  # raw float32 bytes plus a small envelope
    back = serialization.loads(data)["v"]
    np.testing.assert_array_equal(back, emb)
    with pytest.raises(ValueError):
        back[0] = 1.0  # a cached embedding cannot be mutated in place


def test_a_warehouse_row_round_trips() -> None:
    row = {
        "deal_id": "D0001",
        "amount": Decimal("12345.67"),
        "close_date": date(2026, 3, 31),
        "created_at": datetime(2025, 1, 2, 3, 4, 5, 6000),
        "updated_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
        "tags": ("a", "b"),
        "won": None,
    }
    assert_same(serialization.loads(serialization.dumps([row, row])), [row, row])


@pytest.mark.parametrize(
    "foreign",
    [
        pickle.dumps({"a": 1}),
        pickle.dumps({"a": 1}, protocol=0),
        json.dumps({"a": 1}).encode(),
        msgpack.packb({"a": 1}),
        b"",
        b"plain text",
    ],
    ids=["pickle", "pickle-v0", "json", "raw-msgpack", "empty", "text"],
)
def test_foreign_bytes_are_refused(foreign: bytes) -> None:
    with pytest.raises(CacheSerializationError, match="not in the Sophia cache format"):
        serialization.loads(foreign)


def test_a_pickle_is_never_executed() -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (exec, ("raise SystemExit('unpickled!')",))

    with pytest.raises(CacheSerializationError):
        serialization.loads(pickle.dumps(Boom()))


def test_corrupt_bytes_behind_our_header_are_refused() -> None:
    good = serialization.dumps({"a": [1, 2, 3]})
    with pytest.raises(CacheSerializationError, match="corrupt"):
        serialization.loads(good[:-2])


def test_object_arrays_are_refused_both_ways() -> None:
    with pytest.raises(CacheSerializationError, match="dtype"):
        serialization.dumps(np.array([object()]))
    forged = bytes([serialization.FORMAT_V1]) + msgpack.packb(
        msgpack.ExtType(4, msgpack.packb(["|O", [1], b"\0" * 8]))
    )
    with pytest.raises(CacheSerializationError):
        serialization.loads(forged)


def test_unsupported_types_name_the_type() -> None:
    with pytest.raises(CacheSerializationError, match="set"):
        serialization.dumps({1, 2})
    with pytest.raises(CacheSerializationError):
        serialization.dumps(2**70)


def test_aiocache_serializer_passes_misses_through() -> None:
    from stores.cache.l2 import SafeSerializer

    ser = SafeSerializer()
    assert ser.encoding is None
    assert ser.loads(None) is None
    assert ser.loads(ser.dumps({"x": (1, 2)})) == {"x": (1, 2)}


def test_loads_in_steps_decodes_what_loads_decodes() -> None:
    value = {
        "version": 1,
        "items": [
            [i, f"k{i}", {"at": datetime(2026, 1, 1, tzinfo=UTC)}, (i, "t")] for i in range(1000)
        ],
        "other": [1, 2],
        "meta": {"nested": [date(2026, 2, 3)]},
    }
    data = serialization.dumps(value)
    assert serialization.loads_in_steps(data, frozenset({"items"})) == serialization.loads(data)
    assert serialization.loads_in_steps(data, frozenset({"items"})) == value


@pytest.mark.parametrize("data", [b"", pickle.dumps({"items": []}), b"\xc1\x81\xa5items\x93\x01"])
def test_loads_in_steps_refuses_foreign_or_cut_bytes(data: bytes) -> None:
    with pytest.raises(CacheSerializationError):
        serialization.loads_in_steps(data, frozenset({"items"}))
