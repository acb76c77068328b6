"""Helpers of the authentication tests: API keys made in a settings' store, and JWTs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from graphs.durable.keys import ApiKey
from graphs.durable.store import open_durable
from stores.settings import Settings


async def make_key(settings: Settings, name: str = "ana", **options: Any) -> tuple[ApiKey, str]:
    """A new API key in `settings`' store: its row and the key."""
    async with open_durable(settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        return await durable.keys.create(name, **options)


async def revoke_key(settings: Settings, key_id: str) -> bool:
    """Revoke `key_id` in `settings`' store (as `sophia keys revoke` does)."""
    async with open_durable(settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        return await durable.keys.revoke(key_id)


def key_headers(key: str) -> dict[str, str]:
    """The header the LangGraph SDK sends a key in."""
    return {"x-api-key": key}


class Issuer:
    """An RSA key pair that signs test JWTs; writes its public key as PEM and as JWKS."""

    def __init__(self, kid: str = "test-key") -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem_file(self, path: Path) -> Path:
        """The public key as a PEM file at `path`."""
        path.write_bytes(self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ))  # fmt: skip
        return path

    def jwks_file(self, path: Path) -> Path:
        """The public key in a JWKS file at `path`."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        path.write_text(json.dumps({"keys": [{**jwk, "kid": self.kid, "use": "sig"}]}))
        return path

    def token(self, **claims: Any) -> str:
        """A signed RS256 token (exp in an hour unless given) with `claims`."""
        body = {"exp": int(time.time()) + 3600, **claims}
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": self.kid})
