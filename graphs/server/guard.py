"""The middleware in front of every route: Host and Origin checks, then authentication.

1. ``Host`` must name this service (`SecurityPolicy.host_allowed`; 400 otherwise), so a
   page on a DNS name rebound to this address cannot reach it. The probes ``/healthz``
   and ``/readyz`` are exempt: load balancers and kubelets call them by IP address.
2. A browser request from another origin is refused (403): its ``Origin`` must be this
   service's own (the ``Host`` it was sent to) or one of the configured CORS origins,
   and a request marked ``Sec-Fetch-Site: cross-site`` without an Origin may only read.
3. The credentials become the request's `Caller` (``scope["sophia.caller"]``), or an
   `AuthFailure` (``scope["sophia.auth_failure"]``) that each route answers in its own
   error body (`graphs.server.openapi.ApiRoute`); public routes ignore it.

CORS itself (preflights, response headers) is Starlette's `CORSMiddleware`, mounted in
front of this one only when origins are configured (`cors_middleware`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from graphs.server.auth import FAILURE_KEY, Authenticator, AuthFailure
from graphs.server.caller import SCOPE_KEY
from graphs.server.errors import HttpError
from graphs.server.openapi import ApiRoute
from graphs.server.security import SecurityPolicy

PROBES = frozenset({"/healthz", "/readyz"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SecurityMiddleware:
    """Host/Origin checks and authentication for every HTTP request (see the module)."""

    def __init__(self, app: ASGIApp, policy: SecurityPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, code, message = refusal
            await _answer(scope, status, code, message)(scope, receive, send)
            return
        auth: Authenticator | None = getattr(scope["app"].state, "auth", None)
        if auth is None:  # the lifespan has not opened the service (yet)
            outcome: object = AuthFailure(503, "the service is starting")
        else:
            outcome = await auth.authenticate(headers, scope["method"], scope["path"])
        scope[FAILURE_KEY if isinstance(outcome, AuthFailure) else SCOPE_KEY] = outcome
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        host = headers.get("host")
        if scope["path"] not in PROBES and not self.policy.host_allowed(host):
            return 400, "forbidden_host", "this service does not answer to that Host name"
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, host):
            return 403, "forbidden_origin", "requests from that origin are not allowed"
        cross_site = headers.get("sec-fetch-site") == "cross-site"
        if origin is None and cross_site and scope["method"] not in SAFE_METHODS:
            return 403, "forbidden_origin", "cross-site requests may not change data"
        return None

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().rstrip("/")
        if origin in self.policy.cors_origins:
            return True
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            return False
        return bool(netloc) and host is not None and netloc == host.strip().lower()


def _answer(scope: Scope, status: int, code: str, message: str) -> ASGIApp:
    """The refusal in the error body of the route the request was for (the service's own
    when none matches)."""
    app: Starlette = scope["app"]
    for route in app.routes:
        if isinstance(route, ApiRoute) and route.matches(scope)[0] == Match.FULL:
            return route.errors.respond(status, code, message, {})
    return HttpError(status, code, message).response()


def cors_middleware(policy: SecurityPolicy) -> list[Middleware]:
    """Starlette's CORS middleware for the configured origins (none: CORS stays off)."""
    if not policy.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(policy.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "x-api-key", "content-type", "traceparent"],
            expose_headers=["Retry-After", "Content-Location"],
            allow_credentials=False,
            max_age=600,
        )
    ]
