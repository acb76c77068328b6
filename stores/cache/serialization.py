"""Safe, compact cache serialisation: msgpack with ext types, never pickle.

Every encoded value starts with one header byte, ``FORMAT_V1`` (0xC1). 0xC1 is the one
byte msgpack never emits, so bytes written by anything else (a pickle starts with 0x80,
JSON with ``{``/``[``, raw msgpack never with 0xC1) are rejected with
`CacheSerializationError` before any decoding happens. Decoding only ever builds plain
data: there is no code path that imports or calls anything named in the bytes.

Supported values: None, bool, int (64-bit range), float, str, bytes (bytearray and
memoryview come back as bytes), list, dict, tuple, `datetime` (naive or tz-aware; a
tz-aware value comes back with a fixed-offset `timezone` equal in instant and offset),
`date`, `Decimal`, numpy arrays of bool/int/uint/float dtypes (raw little-endian bytes +
shape; decoded arrays are read-only views, so a cached embedding cannot be mutated in
place). numpy scalars are stored as the matching Python number.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import numpy as np

from stores.cache.errors import CacheSerializationError

FORMAT_V1 = 0xC1
"""Header byte of format version 1 (msgpack's reserved, never-used byte)."""

_HEADER = bytes([FORMAT_V1])

_EXT_DATETIME = 1
_EXT_DATE = 2
_EXT_DECIMAL = 3
_EXT_NDARRAY = 4
_EXT_TUPLE = 5

_ARRAY_KINDS = frozenset("biuf")
_ONE_MICROSECOND = timedelta(microseconds=1)


def _pack_inner(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, strict_types=True, use_bin_type=True)


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        offset = obj.utcoffset()
        fields = [
            obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second,
            obj.microsecond, obj.fold,
            None if offset is None else offset // _ONE_MICROSECOND,
        ]  # fmt: skip
        return msgpack.ExtType(_EXT_DATETIME, msgpack.packb(fields))
    if isinstance(obj, date):
        return msgpack.ExtType(_EXT_DATE, msgpack.packb([obj.year, obj.month, obj.day]))
    if isinstance(obj, Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode("ascii"))
    if isinstance(obj, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _pack_inner(list(obj)))
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _ARRAY_KINDS:
            raise CacheSerializationError(
                f"numpy arrays of dtype {obj.dtype} cannot be cached; "
                "only bool, int, uint and float dtypes are supported"
            )
        dtype = obj.dtype.newbyteorder("<") if obj.dtype.itemsize > 1 else obj.dtype
        raw = np.ascontiguousarray(obj, dtype=dtype).tobytes()
        return msgpack.ExtType(_EXT_NDARRAY, msgpack.packb([dtype.str, list(obj.shape), raw]))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytearray | memoryview):
        return bytes(obj)
    # Subclasses of supported builtins (e.g. a str Enum, a dict subclass) arrive here
    # because of strict_types; store them as their base type.
    bases: tuple[Any, ...] = (int, float, str, bytes, list, dict)
    for base in bases:
        if isinstance(obj, base):
            return base(obj)
    raise CacheSerializationError(f"values of type {type(obj).__qualname__} cannot be cached")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_DATETIME:
        y, mo, d, h, mi, s, us, fold, offset_us = msgpack.unpackb(data)
        tz = None if offset_us is None else timezone(timedelta(microseconds=offset_us))
        return datetime(y, mo, d, h, mi, s, us, tzinfo=tz, fold=fold)
    if code == _EXT_DATE:
        return date(*msgpack.unpackb(data))
    if code == _EXT_DECIMAL:
        return Decimal(data.decode("ascii"))
    if code == _EXT_TUPLE:
        return tuple(_unpack_inner(data))
    if code == _EXT_NDARRAY:
        dtype_str, shape, raw = msgpack.unpackb(data)
        dtype = np.dtype(dtype_str)
        if dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"array dtype {dtype_str!r} is not allowed")
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    raise ValueError(f"unknown msgpack ext type {code}")


def _unpack_inner(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, strict_map_key=False, raw=False)


def dumps(value: Any) -> bytes:
    """Encode `value` as header byte + msgpack; raise CacheSerializationError if unsupported."""
    try:
        return _HEADER + _pack_inner(value)
    except CacheSerializationError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise CacheSerializationError(f"cannot encode {type(value).__qualname__}: {exc}") from exc


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Decode bytes made by `dumps`; anything else raises CacheSerializationError."""
    raw = bytes(data)
    if not raw or raw[0] != FORMAT_V1:
        head = raw[:1].hex() or "empty"
        raise CacheSerializationError(
            f"cached bytes are not in the Sophia cache format (header 0x{head}, "
            f"expected 0x{FORMAT_V1:02x}); refusing to decode them"
        )
    try:
        return _unpack_inner(raw[1:])
    except Exception as exc:  # msgpack raises many types on corrupt input
        raise CacheSerializationError(f"corrupt Sophia cache value: {exc}") from exc


def loads_in_steps(data: bytes | bytearray | memoryview, arrays: frozenset[str]) -> Any:
    """`loads` for a map whose values under the keys `arrays` are long lists (a memory
    snapshot's items): each of their elements is decoded on its own, so a thread decoding
    it lets the others run between elements instead of holding the interpreter for the
    whole value (~0.4 s for 120,000 items), and it gives way to them every
    `PAUSE_EVERY` elements. Same format, same errors as `loads`."""
    raw = bytes(data)
    if not raw or raw[0] != FORMAT_V1:
        return loads(raw)  # raises the header error
    unpacker = msgpack.Unpacker(
        ext_hook=_ext_hook, strict_map_key=False, raw=False, max_buffer_size=len(raw)
    )
    unpacker.feed(raw[1:])
    try:
        out: dict[Any, Any] = {}
        for _ in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            if key in arrays:
                out[key] = [
                    _pausing(i, unpacker.unpack) for i in range(unpacker.read_array_header())
                ]
            else:
                out[key] = unpacker.unpack()
        return out
    except Exception as exc:  # msgpack raises many types on corrupt input
        raise CacheSerializationError(f"corrupt Sophia cache value: {exc}") from exc


PAUSE_EVERY = 256
"""Elements between two pauses of `loads_in_steps` (and of other long loads in threads)."""


def pause_now(i: int) -> None:
    """Every `PAUSE_EVERY`-th `i`, release the interpreter lock for a moment: a thread
    loading something large in the background then delays the event loop's thread by a
    fraction of a millisecond, not by the interpreter's 5 ms switch interval."""
    if i % PAUSE_EVERY == 0:
        time.sleep(0)


def _pausing(i: int, step: Any) -> Any:
    pause_now(i)
    return step()
