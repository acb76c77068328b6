"""The cost of authentication per request: the service open vs an API key vs a JWT.

Verifying an API key against its argon2id hash is slow on purpose (tens of ms); the
service does it once per key and process, then serves the key from an in-process cache
(`graphs.server.auth`: re-checked against its row every 5 s without hashing). This
measures, on one in-process app (no network, so the difference is the key check):

- ``GET /assistants/deal_review`` (no I/O) per request: open (no authentication) vs an
  API key vs an RS256 JWT, each the median of many small timed batches, interleaved so
  that machine noise hits all three alike;
- the first request with a key (its one argon2id verification);
- `Authenticator.authenticate` alone with a cached key: what the check itself costs.

    uv run python -m bench.auth            # 61 batches x 50 requests per mode
    uv run python -m bench.auth --quick    # 21 x 30
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import BenchRow, main
from graphs.durable.store import open_durable
from graphs.seeding.warehouse import seed_warehouse
from graphs.server.app import create_app
from graphs.server.auth import Authenticator
from graphs.server.security import SecuritySettings
from stores.demo import data as demo_data
from stores.settings import Settings


def _issuer(tmp: Path) -> tuple[Path, str]:
    """A PEM public key file and an RS256 token it verifies."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp / "jwt.pem"
    pem.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    token = jwt.encode({"sub": "bench", "tenant": "bench", "exp": int(time.time()) + 3600},
                       private, algorithm="RS256")  # fmt: skip
    return pem, token


async def _batch_us(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        response = await client.get("/assistants/deal_review", headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET /assistants/deal_review answered {response.status_code}")
    return (time.perf_counter() - started) / n * 1e6


async def _serving(settings: Settings, security: SecuritySettings) -> Any:
    app = create_app(settings, security=security)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                               base_url="http://localhost")  # fmt: skip
    return app, lifespan, client


async def run(quick: bool) -> list[BenchRow]:
    """Per-request cost of the key check against the open service; the rows."""
    per_batch, batches = (30, 21) if quick else (50, 61)
    with tempfile.TemporaryDirectory(prefix="sophia-auth-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root, warehouse_url=f"duckdb:///{root}/w.duckdb",
                            redis_url=None, gc_freeze=False, trace_file=False)  # fmt: skip
        await seed_warehouse(settings, sizes=demo_data.SMALL)  # the route reads none of it
        pem, token = _issuer(root)
        open_app = await _serving(settings, SecuritySettings(auth="off"))
        async with open_durable(settings) as durable:
            await durable.ensure_ready()
            _, key = await durable.keys.create("bench")
        keyed_app = await _serving(settings, SecuritySettings(jwt_key_file=pem))
        try:
            first_started = time.perf_counter()
            await _batch_us(keyed_app[2], {"x-api-key": key}, 1)  # the one argon2 check
            first_ms = (time.perf_counter() - first_started) * 1000
            modes = {
                "open": (open_app[2], {}),
                "api key": (keyed_app[2], {"x-api-key": key}),
                "jwt": (keyed_app[2], {"authorization": f"Bearer {token}"}),
            }
            for client, headers in modes.values():  # warm-up
                await _batch_us(client, headers, 20)
            samples: dict[str, list[float]] = {m: [] for m in modes}
            for _ in range(batches):
                for mode, (client, headers) in modes.items():
                    samples[mode].append(await _batch_us(client, headers, per_batch))
            auth: Authenticator = keyed_app[0].state.auth
            checks = {"api key": {"x-api-key": key},
                      "jwt": {"authorization": f"Bearer {token}"}}  # fmt: skip
            check_us = {}
            for mode, headers in checks.items():
                started = time.perf_counter()
                for _ in range(per_batch * batches):
                    await auth.authenticate(headers, "GET", "/assistants/deal_review")
                check_us[mode] = (time.perf_counter() - started) / (per_batch * batches) * 1e6
        finally:
            for _, lifespan, client in (open_app, keyed_app):
                await client.aclose()
                await lifespan.__aexit__(None, None, None)
    med = {mode: statistics.median(values) for mode, values in samples.items()}
    share = check_us["api key"] / med["open"]
    return [
        BenchRow("one request: open vs API key (cached)", med["open"], med["api key"], "µs",
                 "info (end to end, noisy)"),
        BenchRow("one request: open vs RS256 JWT", med["open"], med["jwt"], "µs",
                 "info (end to end, noisy)"),
        BenchRow("API key check alone (cached key)", float("nan"), check_us["api key"], "µs",
                 "< 50 µs", check_us["api key"] < 50),
        BenchRow("API key check / an open request", float("nan"), 100 * share, "%",
                 "< 10 %", share < 0.1),
        BenchRow("JWT check alone (RS256)", float("nan"), check_us["jwt"], "µs", "info"),
        BenchRow("first request with a key (argon2id)", float("nan"), first_ms, "ms",
                 "once per key and process"),
    ]  # fmt: skip


if __name__ == "__main__":
    main(run, title="auth: the cost of the key check per request")
