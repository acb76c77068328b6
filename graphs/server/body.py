"""The one reader of JSON request bodies: typed, bounded while read, and checked.

Every route that takes a JSON body reads it with `read_json`, which refuses, each with a
`BodyError` naming the problem (never the value):

- a body that is not ``application/json`` (or ``application/*+json``): 415. A browser
  page on another origin can only send ``text/plain``, form or multipart bodies without
  a CORS preflight, so this is what keeps such a page from driving the service;
- a body over `MAX_BODY_BYTES`: 413, counted while the body streams in (the declared
  ``Content-Length`` is checked first), never after reading it whole;
- a body still arriving after `BODY_TIMEOUT_S`: 408;
- text that is not JSON (400), JSON nested deeper than `MAX_DEPTH` (400), strings
  holding a lone UTF-16 surrogate (``"\\ud800"``, which no UTF-8 text can hold: 400),
  numbers beyond a double (``1e309``), ``NaN``/``Infinity``, and integers beyond 64 bits.

An empty body without a ``Content-Type`` is None: the caller decides what that means (the
graph routes read ``{}``).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from starlette.requests import Request

from stores.errors import SophiaError

MAX_BODY_BYTES = 1024 * 1024
BODY_TIMEOUT_S = 30.0
MAX_DEPTH = 32
"""Objects and arrays nested in one another; our bodies need fewer than ten."""
MAX_INT = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyError(SophiaError):
    """A request body the service refuses: HTTP `status`, a `code` and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header names JSON (``application/json``, ``+json``)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_bytes(
    request: Request, *, max_bytes: int = MAX_BODY_BYTES, timeout_s: float = BODY_TIMEOUT_S
) -> bytes:
    """The raw body, refused (413) as soon as it exceeds `max_bytes`, or (408) when it has
    not fully arrived within `timeout_s`."""
    too_large = BodyError(413, "body_too_large", f"the body exceeds {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise BodyError(
            408, "body_timeout", f"the body did not arrive within {timeout_s:g}s"
        ) from None
    return b"".join(chunks)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is beyond the range of a double")
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise ValueError(f"the integer {text[:40]}... is beyond 64 bits")
    value = int(text)
    if abs(value) > MAX_INT:
        raise ValueError(f"the integer {text} is beyond 64 bits")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_text(text: str) -> None:
    if not text.isascii() and _SURROGATE.search(text):
        raise ValueError("a string holds a lone UTF-16 surrogate, which is not text")


def check_value(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """ValueError when `value` (decoded JSON) nests deeper than `max_depth` or holds a
    string with a lone surrogate. Iterative: a deep value cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise ValueError(f"the JSON nests deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def parse_json(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`raw` decoded (see the module docstring); BodyError 400 naming what is wrong."""
    try:
        value = json.loads(
            raw, parse_float=_number, parse_int=_integer, parse_constant=_constant
        )
        check_value(value, max_depth)
    except RecursionError:
        raise BodyError(
            400, "invalid_json", f"the JSON nests deeper than {max_depth} levels"
        ) from None
    except UnicodeDecodeError:
        raise BodyError(400, "invalid_json", "the body is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError is one
        raise BodyError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    return value


async def read_json(
    request: Request,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    timeout_s: float = BODY_TIMEOUT_S,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """The request's JSON body, or None when it is empty and untyped (see the module
    docstring). A body typed as anything but JSON is refused even when empty."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json_media_type(content_type):
        raise _unsupported(content_type)
    raw = await read_bytes(request, max_bytes=max_bytes, timeout_s=timeout_s)
    if not raw.strip():
        return None
    if content_type is None:
        raise _unsupported(None)
    return parse_json(raw, max_depth)


def _unsupported(content_type: str | None) -> BodyError:
    sent = f", not {content_type.split(';', 1)[0].strip()[:60]}" if content_type else ""
    message = f"a body must be sent as application/json{sent}"
    return BodyError(415, "unsupported_media_type", message)
