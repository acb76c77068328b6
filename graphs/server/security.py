"""The service's security settings, and the policy `create_app` resolves them into.

Read from ``SOPHIA_*`` environment variables (or given explicitly); each field's
description says what it does, and the README's Configuration table lists them.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from stores.errors import ConfigurationError

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
AuthMode = Literal["auto", "on", "off"]


class SecuritySettings(BaseSettings):
    """Who may call the service and from where (see the module docstring)."""

    model_config = SettingsConfigDict(env_prefix="SOPHIA_", extra="ignore")

    auth: AuthMode = Field(
        default="auto",
        description="`auto`: authentication is on when an API key exists or a JWT key is "
        "configured; with neither the service runs open, which is allowed only on a "
        "loopback address (or with `--insecure`), and it switches to authentication as soon "
        "as a key is made. `on`: always. `off`: never (loopback only, unless `--insecure`).",
    )
    allowed_hosts: str | None = Field(
        default=None,
        description="Comma-separated `Host` names the service answers to (`*`: any); unset: "
        "the bind address, localhost, 127.0.0.1 and ::1 (and the machine's names for a "
        "wildcard bind). Stops DNS rebinding.",
    )
    cors_origins: str | None = Field(
        default=None,
        description="Comma-separated origins allowed to call from a browser; unset: CORS off.",
    )
    jwt_key_file: Path | None = Field(
        default=None, description="A PEM public key that verifies bearer JWTs."
    )
    jwks_file: Path | None = Field(
        default=None, description="A JWKS file of keys that verify bearer JWTs (by `kid`)."
    )
    jwt_algorithms: str = Field(
        default="RS256,ES256,EdDSA", description="Accepted JWT signing algorithms (no HMAC)."
    )
    jwt_audience: str | None = Field(default=None, description="A JWT's required `aud`.")
    jwt_issuer: str | None = Field(default=None, description="A JWT's required `iss`.")
    jwt_tenant_claim: str = Field(
        default="tenant",
        description="The JWT claim naming the caller's tenant (a token without it is its "
        "`sub`'s own).",
    )
    key_max_concurrent_runs: int | None = Field(
        default=None,
        ge=1,
        description="Runs at once of a key that sets no quota of its own (and of JWT "
        "callers, per tenant); unset: no limit but the server's.",
    )
    key_runs_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Runs started per minute of a key that sets no quota of its own (and of "
        "JWT callers, per tenant); unset: no limit.",
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest a request body may take to arrive (408)."
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest a client may take to send a request's headers (then closed).",
    )
    max_connections: int = Field(
        default=1024,
        ge=1,
        description="Connections (and requests) uvicorn serves at once; more get 503.",
    )
    insecure: bool = Field(
        default=False,
        description="Allow serving a non-loopback address without authentication "
        "(`sophia serve --insecure`).",
    )
    webhook_hosts: str | None = Field(
        default=None,
        description="Comma-separated host names a LangGraph API run's `webhook` may call "
        "(http or https); unset: webhooks are refused (422). Keeps callers from making the "
        "service reach arbitrary addresses.",
    )
    shutdown_grace_s: float = Field(
        default=30.0,
        gt=0,
        description="On SIGTERM, seconds running runs get to finish; the rest resume on the "
        "next start (`sophia serve --grace`).",
    )
    worker_start_timeout_s: int = Field(
        default=120,
        ge=5,
        description="With `sophia serve --workers N`: seconds a worker may take to start "
        "(import and open its engine) and to answer the supervisor's health check before "
        "it is killed and replaced (uvicorn's default, 5 s, kills workers on a busy machine).",
    )

    @property
    def jwt_configured(self) -> bool:
        """Whether bearer JWTs can be verified."""
        return self.jwt_key_file is not None or self.jwks_file is not None


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def is_loopback(host: str) -> bool:
    """Whether binding `host` exposes the service to this machine only."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name part of a ``Host`` header or an origin's netloc (no port, no brackets),
    lower-cased."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class SecurityPolicy:
    """What the middleware enforces: the Host allow-list (None: any host), the CORS
    origins, and whether the service may run without authentication."""

    bind_host: str
    allowed_hosts: frozenset[str] | None
    cors_origins: tuple[str, ...]
    insecure: bool

    @property
    def may_run_open(self) -> bool:
        """Whether the service may run without authentication (loopback, or --insecure)."""
        return self.insecure or is_loopback(self.bind_host)

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's ``Host`` header names this service."""
        if self.allowed_hosts is None:
            return True
        return header is not None and host_name(header) in self.allowed_hosts


def resolve_policy(settings: SecuritySettings, bind_host: str, insecure: bool) -> SecurityPolicy:
    """The policy for a service bound to `bind_host` (no I/O but the host-name lookups of
    a wildcard bind without ``SOPHIA_ALLOWED_HOSTS``)."""
    configured = _split(settings.allowed_hosts)
    hosts: frozenset[str] | None
    if "*" in configured:
        hosts = None
    elif configured:
        hosts = frozenset(host_name(h) for h in configured)
    else:
        names = {*LOCAL_HOSTS}
        if bind_host in WILDCARDS:
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        else:
            names.add(host_name(bind_host))
        hosts = frozenset(names)
    origins = _split(settings.cors_origins)
    if "*" in origins:
        raise ConfigurationError(
            "SOPHIA_CORS_ORIGINS='*' would let any web page call the service: list origins"
        )
    return SecurityPolicy(bind_host, hosts, tuple(o.rstrip("/") for o in origins), insecure)


def refuse_open_bind(bind_host: str) -> ConfigurationError:
    """The error of serving `bind_host` (not loopback) without authentication."""
    return ConfigurationError(
        f"refusing to serve {bind_host} without authentication: anyone who can reach the "
        "port would own the service. Create an API key (`sophia keys create NAME`), "
        "configure JWTs (SOPHIA_JWT_KEY_FILE), or pass --insecure if you mean it"
    )
