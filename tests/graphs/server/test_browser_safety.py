"""What a web page the operator visits can do to the service: nothing.

A page on another origin can send "simple" requests without a CORS preflight
(``text/plain`` bodies, ``fetch(..., {mode: "no-cors"})``), and a page on a DNS name
rebound to 127.0.0.1 sends its own Host. Such requests are refused before any route runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from graphs.server.app import create_app
from graphs.server.security import SecuritySettings
from stores.settings import Settings
from tests.graphs.server.app_support import serving

HOSTILE = "http://evil.example"


@pytest.fixture
async def open_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An open local server (no key): the case where a browser page is most dangerous."""
    async with serving(create_app(settings)) as client:
        yield client


async def test_a_text_plain_body_is_415(open_client: httpx.AsyncClient) -> None:
    plain = {"content-type": "text/plain"}
    for path, body in [
        ("/graphs/deal_review/invoke", b'{"deal_ids": ["D-00001"]}'),
        ("/graphs/deal_review/stream", b"{}"),
        ("/threads", b"{}"),
        ("/runs/wait", b'{"assistant_id": "deal_review"}'),
        ("/threads/search", b""),  # typed as text even when empty
    ]:
        response = await open_client.post(path, content=body, headers=plain)
        assert response.status_code == 415, (path, response.text)
    form = await open_client.post("/graphs/deal_review/invoke", data={"deal_ids": "D-00001"})
    assert form.status_code == 415
    untyped = await open_client.post("/graphs/deal_review/invoke", content=b'{"deal_ids": []}')
    assert untyped.status_code == 415
    # JSON, and +json types, are fine; an untyped empty body is the default input
    utf8 = {"content-type": "application/json; charset=utf-8"}
    typed = await open_client.post("/graphs/deal_review/invoke", content=b"{}", headers=utf8)
    assert typed.status_code == 200
    assert (await open_client.post("/graphs/deal_review/invoke")).status_code == 200


async def test_a_foreign_host_is_refused_but_probes_answer(open_client: httpx.AsyncClient) -> None:
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example"):
        refused = await open_client.get("/graphs", headers={"host": host})
        assert refused.status_code == 400 and refused.json()["error"] == "forbidden_host"
        sdk = await open_client.post("/threads/search", json={}, headers={"host": host})
        assert sdk.status_code == 400 and "detail" in sdk.json()
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert (await open_client.get("/graphs", headers={"host": host})).status_code == 200
    assert (await open_client.get("/healthz", headers={"host": "10.0.0.7"})).status_code == 200


async def test_a_foreign_origin_is_refused(open_client: httpx.AsyncClient) -> None:
    approve = {"assistant_id": "deal_review", "input": {}}
    for headers in (
        {"origin": HOSTILE},
        {"origin": "null"},
        {"origin": "http://localhost:9999"},  # another local app is another origin
        {"sec-fetch-site": "cross-site"},
    ):
        refused = await open_client.post("/runs/wait", json=approve, headers=headers)
        assert refused.status_code == 403, (headers, refused.text)
        assert "origin" in refused.json()["detail"] or "cross-site" in refused.json()["detail"]
        own = await open_client.post("/graphs/deal_review/invoke", json={}, headers=headers)
        assert own.status_code == 403 and own.json()["error"] == "forbidden_origin"
    same = await open_client.post("/graphs/deal_review/invoke", json={},
                                  headers={"origin": "http://localhost"})  # fmt: skip
    assert same.status_code == 200
    # CORS is off: no page on another origin may read an answer
    answer = await open_client.get("/graphs", headers={"origin": "http://localhost"})
    assert "access-control-allow-origin" not in answer.headers


async def test_cors_when_configured(settings: Settings) -> None:
    allowed = "https://app.example.com"
    security = SecuritySettings(cors_origins=allowed)
    async with serving(create_app(settings, security=security)) as client:
        preflight = await client.options("/runs/wait", headers={
            "origin": allowed, "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type"})  # fmt: skip
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        answer = await client.get("/graphs", headers={"origin": allowed})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == allowed
        other = await client.get("/graphs", headers={"origin": HOSTILE})
        assert other.status_code == 403
    with pytest.raises(Exception, match="list origins"):
        create_app(settings, security=SecuritySettings(cors_origins="*"))


async def test_configured_hosts_replace_the_default(settings: Settings) -> None:
    security = SecuritySettings(allowed_hosts="sophia.internal, api.example.com")
    async with serving(create_app(settings, security=security)) as client:
        ok = await client.get("/graphs", headers={"host": "api.example.com:443"})
        assert ok.status_code == 200
        assert (await client.get("/graphs")).status_code == 400  # localhost is not listed
