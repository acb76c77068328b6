"""Bearer JWTs, verified with PyJWT against a configured public key or JWKS file.

A token must be signed by the configured key (``SOPHIA_JWT_KEY_FILE``, a PEM public key)
or by the JWKS key its ``kid`` names (``SOPHIA_JWKS_FILE``), with one of the configured
asymmetric algorithms (HMAC is refused: a public key must never double as a shared
secret), unexpired, with a ``sub``, and with the configured ``aud``/``iss`` when set.
Its claims make the `Caller`:

- ``tenant`` (or the configured claim): the tenant; without it, the subject's own;
- ``sub``: the subject (recorded as a reviewer's identity);
- ``graphs`` (a list of names): the graphs it may use; absent, every graph;
- ``read_only`` (a boolean): whether it may only read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from graphs.server.caller import Caller
from graphs.server.security import SecuritySettings
from stores.errors import ConfigurationError, SophiaError

_SYMMETRIC = ("HS256", "HS384", "HS512")


class TokenError(SophiaError):
    """A bearer token that does not verify (the message says why, never the token)."""


@dataclass(frozen=True)
class JwtVerifier:
    """Verifies bearer JWTs against `keys` (by ``kid``; ``None`` is the one key file)."""

    keys: Mapping[str | None, Any]
    algorithms: tuple[str, ...]
    audience: str | None
    issuer: str | None
    tenant_claim: str

    @classmethod
    def load(cls, settings: SecuritySettings) -> JwtVerifier | None:
        """The verifier the settings configure (reads the key files), or None."""
        if not settings.jwt_configured:
            return None
        algorithms = tuple(a.strip() for a in settings.jwt_algorithms.split(",") if a.strip())
        if not algorithms or any(a.upper() in _SYMMETRIC or a.lower() == "none"
                                 for a in algorithms):  # fmt: skip
            raise ConfigurationError(
                "SOPHIA_JWT_ALGORITHMS must list asymmetric algorithms (RS256, ES256, EdDSA...)"
            )
        keys: dict[str | None, Any] = {}
        try:
            if settings.jwt_key_file is not None:
                # Parsed once: PyJWT would parse a PEM on every token otherwise.
                keys[None] = load_pem_public_key(settings.jwt_key_file.read_bytes())
            if settings.jwks_file is not None:
                jwks = jwt.PyJWKSet.from_json(settings.jwks_file.read_text())
                for key in jwks.keys:
                    keys[key.key_id] = key
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise ConfigurationError(f"cannot load the JWT keys: {type(exc).__name__}") from exc
        return cls(keys, algorithms, settings.jwt_audience, settings.jwt_issuer,
                   settings.jwt_tenant_claim)  # fmt: skip

    def verify(self, token: str) -> Caller:
        """The caller `token` stands for; TokenError naming why it does not verify."""
        try:
            header = jwt.get_unverified_header(token)
            # A token names its JWKS key by kid; the one key file verifies any token.
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise TokenError("the token's kid header must be a string")
            key = self.keys.get(kid, self.keys.get(None))
            if key is None:
                raise TokenError("the token's signing key is not one this service trusts")
            claims = jwt.decode(
                token,
                key.key if isinstance(key, jwt.PyJWK) else key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token does not verify: {exc}") from None
        return _caller(claims, self.tenant_claim)


def _caller(claims: Mapping[str, Any], tenant_claim: str) -> Caller:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("the token's sub claim must be a non-empty string")
    tenant = claims.get(tenant_claim, subject)
    graphs = claims.get("graphs")
    read_only = claims.get("read_only", False)
    if not isinstance(tenant, str) or not tenant:
        raise TokenError(f"the token's {tenant_claim} claim must be a non-empty string")
    if graphs is not None and not (isinstance(graphs, list)
                                   and all(isinstance(g, str) for g in graphs)):  # fmt: skip
        raise TokenError("the token's graphs claim must be a list of graph names")
    if not isinstance(read_only, bool):
        raise TokenError("the token's read_only claim must be a boolean")
    return Caller(
        tenant=tenant,
        subject=subject,
        graphs=frozenset(graphs) if graphs is not None else None,
        read_only=read_only,
    )
