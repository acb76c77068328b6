"""Authentication: API keys and JWTs on every route but health, scopes, the open mode."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from graphs.durable.store import open_durable
from graphs.server.app import create_app
from graphs.server.auth import Authenticator
from graphs.server.security import SecuritySettings
from stores.errors import ConfigurationError
from stores.settings import Settings
from tests.graphs.server.app_support import serving
from tests.graphs.server.auth_support import Issuer, key_headers, make_key

PROTECTED = [  # (method, path, body): one route of each kind
    ("GET", "/graphs", None),
    ("POST", "/graphs/deal_review/invoke", {}),
    ("GET", "/stats", None),
    ("GET", "/metrics", None),
    ("GET", "/openapi.json", None),
    ("GET", "/dashboard/data", None),
    ("POST", "/threads/search", {}),
    ("POST", "/runs/wait", {"assistant_id": "deal_review", "input": {}}),
]


async def _call(client: httpx.AsyncClient, method: str, path: str, body: object,
                **headers: str) -> httpx.Response:  # fmt: skip
    return await client.request(method, path, json=body, headers=headers)


async def test_every_route_but_health_needs_a_valid_key(settings: Settings) -> None:
    _record, key = await make_key(settings)
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    async with serving(create_app(settings)) as client:
        for method, path, body in PROTECTED:
            for headers in ({}, {"x-api-key": wrong}, {"authorization": f"Bearer {wrong}"},
                            {"authorization": "Basic YWxhZGRpbjpvcGVu"},
                            {"authorization": "Bearer not-a-key"}):  # fmt: skip
                refused = await _call(client, method, path, body, **headers)
                assert refused.status_code == 401, (path, headers, refused.text)
                assert refused.headers["www-authenticate"].startswith("Bearer")
                expected = {"detail"} if path.startswith(("/threads", "/runs")) else {
                    "error", "message"}  # fmt: skip
                assert set(refused.json()) == expected, refused.text
                assert key not in refused.text and wrong not in refused.text
            for headers in ({"x-api-key": key}, {"authorization": f"Bearer {key}"}):
                allowed = await _call(client, method, path, body, **headers)
                assert allowed.status_code == 200, (path, allowed.text)
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        # without credentials: which check passed, not the details (errors may name hosts)
        assert ready.json()["checks"]["warehouse"] == {"ok": True, "required": True}
        detailed = await client.get("/readyz", headers=key_headers(key))
        assert detailed.json()["checks"]["warehouse"]["backend"] == "duckdb"
        # each key hashed once (the good one, the wrong one), then served from the cache
        assert client_auth(client).verifications == 2


def client_auth(client: httpx.AsyncClient) -> Authenticator:
    """The Authenticator of the app behind an ASGI client."""
    app = client._transport.app  # type: ignore[attr-defined]
    auth: Authenticator = app.state.auth
    return auth


async def test_a_revoked_key_stops_working_within_the_revalidation_bound(
    settings: Settings,
) -> None:
    record, key = await make_key(settings)
    now = [1000.0]
    async with open_durable(settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        auth = Authenticator(durable.keys, None, mode="on", clock=lambda: now[0])
        caller = await auth.key_caller(key)
        assert caller is not None and caller.key_id == record.key_id
        assert caller.tenant == record.key_id and caller.subject == "ana"
        assert await durable.keys.revoke(record.key_id)
        now[0] += auth.revalidate_s - 0.01
        assert await auth.key_caller(key) is not None  # still cached, within the bound
        now[0] += 0.02
        assert await auth.key_caller(key) is None  # the row is read again: revoked
        assert auth.verifications == 1  # revalidation reads the row, it does not re-hash
        # a wrong key is refused once per bound, not hashed on every try
        wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
        _other, other_key = await durable.keys.create("bo")
        wrong_other = other_key[:-1] + ("A" if other_key[-1] != "A" else "B")
        for _ in range(5):
            assert await auth.key_caller(wrong_other) is None
        assert auth.verifications == 2
        assert await auth.key_caller(wrong) is None


async def test_scopes_limit_graphs_and_writes(settings: Settings) -> None:
    _, recall_only = await make_key(settings, "recaller", graphs=["memory_recall"])
    _, reader = await make_key(settings, "reader", read_only=True)
    async with serving(create_app(settings)) as client:
        scoped = key_headers(recall_only)
        listed = await client.get("/graphs", headers=scoped)
        assert [g["name"] for g in listed.json()["graphs"]] == ["memory_recall"]
        denied = await client.post("/graphs/deal_review/invoke", json={}, headers=scoped)
        assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
        sdk = await client.post("/runs/wait", json={"assistant_id": "deal_review"},
                                headers=scoped)  # fmt: skip
        assert sdk.status_code == 403 and "deal_review" in sdk.json()["detail"]
        assistants = await client.post("/assistants/search", json={}, headers=scoped)
        assert [a["graph_id"] for a in assistants.json()] == ["memory_recall"]
        assert (await client.get("/assistants/deal_review", headers=scoped)).status_code == 404

        read = key_headers(reader)
        assert (await client.get("/graphs", headers=read)).status_code == 200
        assert (await client.post("/threads/search", json={}, headers=read)).status_code == 200
        for path, body in [("/graphs/deal_review/invoke", {}), ("/threads", {}),
                           ("/runs/wait", {"assistant_id": "deal_review"})]:  # fmt: skip
            refused = await client.post(path, json=body, headers=read)
            assert refused.status_code == 403, (path, refused.text)
            assert "read-only" in refused.text


async def test_open_on_loopback_until_a_key_exists(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        assert (await client.get("/graphs")).status_code == 200  # no key yet: open
        auth = client_auth(client)
        assert not auth.required and "OFF" in auth.describe()
        _, key = await make_key(settings)
        auth.revalidate_s = 0.0  # the next request looks for keys again (normally 5 s)
        assert (await client.get("/graphs")).status_code == 401
        assert (await client.get("/graphs", headers=key_headers(key))).status_code == 200


async def test_a_public_bind_without_authentication_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="--insecure"):
        async with serving(create_app(settings, host="0.0.0.0")):
            pass
    async with serving(create_app(settings, host="0.0.0.0", insecure=True)) as client:
        assert (await client.get("/graphs")).status_code == 200
    off = SecuritySettings(auth="off")
    with pytest.raises(ConfigurationError):
        async with serving(create_app(settings, host="10.1.2.3", security=off)):
            pass
    await make_key(settings)
    async with serving(create_app(settings, host="0.0.0.0")) as client:
        assert (await client.get("/graphs")).status_code == 401


async def test_bearer_jwts_verified_against_a_key_file_or_jwks(
    settings: Settings, tmp_path: Path
) -> None:
    issuer, stranger = Issuer("k1"), Issuer("k1")
    pem = SecuritySettings(jwt_key_file=issuer.pem_file(tmp_path / "public.pem"))
    jwks = SecuritySettings(jwks_file=issuer.jwks_file(tmp_path / "jwks.json"),
                            jwt_audience="sophia")  # fmt: skip
    async with serving(create_app(settings, security=pem)) as client:
        good = issuer.token(sub="ana@example.com", tenant="acme", graphs=["memory_recall"])
        bearer = {"authorization": f"Bearer {good}"}
        listed = await client.get("/graphs", headers=bearer)
        assert listed.status_code == 200, listed.text
        assert [g["name"] for g in listed.json()["graphs"]] == ["memory_recall"]
        created = await client.post("/threads", json={}, headers=bearer)
        assert created.status_code == 200
        for token in (
            issuer.token(sub="ana", exp=1),  # expired
            stranger.token(sub="ana"),  # signed by someone else
            issuer.token(tenant="acme"),  # no subject
            issuer.token(sub="ana", read_only="yes"),  # malformed claim
        ):
            refused = await client.get("/graphs", headers={"authorization": f"Bearer {token}"})
            assert refused.status_code == 401, refused.text
    async with serving(create_app(settings, security=jwks)) as client:
        ok = await client.get("/graphs", headers={
            "authorization": f"Bearer {issuer.token(sub='ana', aud='sophia')}"})  # fmt: skip
        assert ok.status_code == 200
        no_aud = await client.get("/graphs", headers={
            "authorization": f"Bearer {issuer.token(sub='ana')}"})  # fmt: skip
        assert no_aud.status_code == 401
    hmac = SecuritySettings(jwt_key_file=tmp_path / "public.pem", jwt_algorithms="HS256")
    with pytest.raises(ConfigurationError, match="asymmetric"):
        async with serving(create_app(settings, security=hmac)):
            pass


async def test_the_dashboard_signs_in_with_a_key_in_a_cookie(settings: Settings) -> None:
    _, key = await make_key(settings)
    async with serving(create_app(settings)) as client:
        page = await client.get("/dashboard")
        assert page.status_code == 303 and page.headers["location"] == "/dashboard/login"
        form = await client.get("/dashboard/login")
        assert form.status_code == 200 and 'name="key"' in form.text
        bad = await client.post("/dashboard/login", data={"key": key[:-2] + "xx"})
        assert bad.status_code == 401 and "not valid" in bad.text
        json_login = await client.post("/dashboard/login", json={"key": key})
        assert json_login.status_code == 415
        good = await client.post("/dashboard/login", data={"key": key})
        assert good.status_code == 303 and good.headers["location"] == "/dashboard"
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
        assert (await client.get("/dashboard")).status_code == 200
        assert (await client.get("/dashboard/data")).status_code == 200
        # the cookie only ever reads the dashboard: it cannot start a run
        run = await client.post("/graphs/deal_review/invoke", json={},
                                headers={"cookie": f"sophia_key={key}"})  # fmt: skip
        assert run.status_code == 401
        out = await client.post("/dashboard/logout")
        assert out.status_code == 303
        client.cookies.clear()
        assert (await client.get("/dashboard/data")).status_code == 401


async def test_the_openapi_document_declares_the_security_scheme(settings: Settings) -> None:
    _, key = await make_key(settings)
    async with serving(create_app(settings), headers=key_headers(key)) as client:
        doc = (await client.get("/openapi.json")).json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header",
                                 "name": "x-api-key"}  # fmt: skip
    assert schemes["bearer"]["scheme"] == "bearer"
    assert {"apiKey": []} in doc["security"]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert "security" not in doc["paths"]["/graphs"]["get"]
    assert {"401", "403"} <= set(doc["paths"]["/graphs/deal_review/invoke"]["post"]["responses"])
    assert "401" not in doc["paths"]["/healthz"]["get"]["responses"]
