"""Bad input is a 4xx naming the problem, never a 500, a path, a stack or a repr, and the
server is healthy after each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from graphs.server.app import create_app
from graphs.server.body import MAX_BODY_BYTES
from graphs.server.security import SecuritySettings
from stores.settings import Settings
from tests.graphs.server.app_support import serving

JSON = {"content-type": "application/json"}
DEEP = b'{"deal_ids": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
SURROGATE = b'{"deal_ids": ["D-\\ud800"]}'
RUN = b'{"assistant_id": "deal_review", "input": %s}'

CASES: list[tuple[str, str, bytes]] = [  # (method, path, raw JSON body)
    ("POST", "/graphs/deal_review/invoke", SURROGATE),
    ("POST", "/graphs/deal_review/stream", SURROGATE),
    ("POST", "/graphs/deal_review/invoke", DEEP),
    ("POST", "/graphs/deal_review/invoke", b'{"deal_ids": ["D-00001"], "x": 1e309}'),
    ("POST", "/graphs/deal_review/invoke", b'{"deal_ids": ["D-00001"], "x": NaN}'),
    ("POST", "/graphs/deal_review/invoke", b'{"deal_ids": [' + b"9" * 5000 + b"]}"),
    ("POST", "/runs/wait", RUN % SURROGATE),
    ("POST", "/runs/wait", RUN % DEEP),
    ("POST", "/runs/wait", b'{"assistant_id": "deal_review", "metadata": "not an object"}'),
    ("POST", "/runs/wait", b'{"assistant_id": ["deal_review"]}'),
    ("POST", "/runs/wait", b'{"assistant_id": "deal_review", "metadata": {"k": "\\udfff"}}'),
    ("POST", "/threads", b'{"metadata": {"owner": "\\ud800"}}'),
    ("POST", "/threads", b'{"metadata": ["not", "an", "object"]}'),
    ("POST", "/threads", b'{"thread_id": ["a", "list"]}'),
    ("POST", "/threads", b'{"thread_id": 12}'),
    ("POST", "/threads/search", b'{"limit": 1e309}'),
    ("POST", "/threads/search", b'{"limit": 99999999999999999999999}'),
    ("POST", "/threads/search", b'{"offset": -Infinity}'),
    ("POST", "/threads/search", b'[1, 2]'),
    ("POST", "/threads/search", b'{"limit": '),
    ("POST", "/assistants/search", b'{"graph_id": {"a": 1}}'),
    ("GET", "/threads/%ED%A0%80", b""),
    ("GET", "/threads/%ED%A0%80/state", b""),
    ("GET", "/threads/x/runs/%FF%FE", b""),
    ("GET", "/dashboard/traces/%ED%A0%80", b""),
]


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    security = SecuritySettings(body_timeout_s=1.0)
    async with serving(create_app(settings, security=security)) as c:
        yield c


def _clean(text: str, settings: Settings) -> None:
    """No path, stack or repr in an error answer."""
    assert str(settings.data_dir) not in text
    for marker in ("Traceback", "File \"", ".py", "<object", "object at 0x", "Error(",
                   "sqlite", "/tmp/"):  # fmt: skip
        assert marker not in text, (marker, text)


async def test_each_bad_input_is_a_4xx_and_the_server_stays_healthy(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for method, path, body in CASES:
        response = await client.request(method, path, content=body or None,
                                        headers=JSON if body else {})  # fmt: skip
        assert 400 <= response.status_code < 500, (path, body[:80], response.text)
        _clean(response.text, settings)
        assert (await client.get("/healthz")).status_code == 200
    ok = await client.post("/graphs/deal_review/invoke", json={"deal_ids": ["D-00002"]})
    assert ok.status_code == 200
    listed = await client.post("/threads/search", json={})
    assert listed.status_code == 200


async def test_the_body_size_is_checked_while_it_streams(client: httpx.AsyncClient) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        yield b'{"deal_ids": ["'
        while sent < 64 * MAX_BODY_BYTES:
            sent += 65536
            yield b"D" * 65536

    for path in ("/graphs/deal_review/invoke", "/runs/wait"):
        sent = 0
        response = await client.post(path, content=endless(), headers=JSON)
        assert response.status_code == 413, response.text
        assert sent < 4 * MAX_BODY_BYTES  # refused as it grew, not after all of it
    too_long = {**JSON, "content-length": str(10 * MAX_BODY_BYTES)}
    declared = await client.post("/graphs/deal_review/invoke", content=b"{}", headers=too_long)
    assert declared.status_code == 413


async def test_a_body_that_does_not_arrive_in_time_is_408(client: httpx.AsyncClient) -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b'{"deal_ids": '
        await asyncio.sleep(3)  # the client fixture allows 1 s for a body
        yield b"[]}"

    response = await client.post("/graphs/deal_review/invoke", content=slow(), headers=JSON)
    assert response.status_code == 408
    assert (await client.get("/healthz")).status_code == 200
