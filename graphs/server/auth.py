"""Authentication: who a request's credentials say is calling, as a `Caller`.

Credentials, in this order: an ``x-api-key`` header (what ``langgraph_sdk`` sends), an
``Authorization: Bearer`` header (an API key, or a JWT when one is configured:
`graphs.server.jwt_auth`), or, for the dashboard's own GET requests only, the key the
login form put in the ``sophia_key`` cookie (so that a cross-site form cannot use it).

An API key is verified against its argon2id hash once, then cached in process by the
SHA-256 digest of the key (never the key): at most `CACHE_SIZE` keys, and each cached key
is checked again against its row (one indexed SELECT, no hashing) once it is older than
`REVALIDATE_S`. So **a revoked key stops working within `REVALIDATE_S` (5 s)** in every
process, and a request with a known key costs a digest and a dictionary look-up. Failed
keys are remembered as long, so that guessing cannot make the server hash without bound;
at most `VERIFY_PARALLEL` hashes run at once, in threads.

`Authenticator.start` decides whether authentication is required (`SecuritySettings.auth`):
``auto`` requires it once an API key exists or a JWT key is configured, and re-checks
for a first key every `REVALIDATE_S` while it runs open.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import cookie_parser

from graphs.durable.keys import ApiKey, KeyStore, parse_key, verify_secret
from graphs.server.caller import OPEN, Caller
from graphs.server.jwt_auth import JwtVerifier, TokenError
from graphs.server.security import AuthMode, refuse_open_bind
from stores.errors import SophiaError

logger = logging.getLogger(__name__)
T = TypeVar("T")

REVALIDATE_S = 5.0
"""A cached key (or a refused one) is checked against the key table again after this."""
CACHE_SIZE = 1024
VERIFY_PARALLEL = 2
COOKIE = "sophia_key"
FAILURE_KEY = "sophia.auth_failure"
"""Where the middleware leaves an `AuthFailure` in the request scope."""


@dataclass(frozen=True)
class AuthFailure:
    """Why a request is not authenticated: 401 (bad or missing credentials) or 503 (the
    key table cannot be read)."""

    status: int
    message: str


@dataclass
class _Verified:
    caller: Caller
    secret_hash: str
    checked_at: float


def caller_of_key(record: ApiKey) -> Caller:
    """The caller an API key stands for."""
    return Caller(
        tenant=record.tenant,
        key_id=record.key_id,
        subject=record.name,
        graphs=frozenset(record.graphs) if record.graphs is not None else None,
        read_only=record.read_only,
        max_concurrent_runs=record.max_concurrent_runs,
        runs_per_minute=record.runs_per_minute,
    )


class Authenticator:
    """Turns credentials into a `Caller` (or an `AuthFailure`) for one service (`keys`
    None: the engine is not open, and no key verifies). `ready` makes sure the key table
    exists before it is read (the store may have been down when the service started)."""

    def __init__(
        self,
        keys: KeyStore | None,
        jwt: JwtVerifier | None,
        *,
        mode: AuthMode = "auto",
        may_run_open: bool = True,
        bind_host: str = "127.0.0.1",
        revalidate_s: float = REVALIDATE_S,
        cache_size: int = CACHE_SIZE,
        ready: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = keys
        self._clock = clock
        self._ready = ready
        self.jwt = jwt
        self.mode = mode
        self.may_run_open = may_run_open
        self.bind_host = bind_host
        self.revalidate_s = revalidate_s
        self.cache_size = cache_size
        self.required = mode == "on" or jwt is not None or keys is None
        self._checked_open_at = 0.0
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()
        self._refused: OrderedDict[bytes, float] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[Caller | None]] = {}
        self._hashing = asyncio.Semaphore(VERIFY_PARALLEL)
        self.verifications = 0
        """argon2 verifications made (for tests and the bench)."""

    async def start(self) -> None:
        """Decide whether authentication is required; ConfigurationError when it is not
        and the service is bound beyond loopback without ``--insecure``."""
        if self.mode == "auto" and not self.required and self.keys is not None:
            try:
                await self._ensure()
                self.required = await self.keys.any_active()
            except SophiaError as exc:  # cannot tell whether keys exist: fail closed
                logger.warning("cannot read the key table (%s): authentication is on", exc)
                self.required = True
            self._checked_open_at = self._clock()
        if not self.required and not self.may_run_open:
            raise refuse_open_bind(self.bind_host)

    def describe(self) -> str:
        """One line saying how callers are authenticated (the server's first log line)."""
        if self.required:
            how = "API keys" + (" or bearer JWTs" if self.jwt is not None else "")
            return f"authentication is on: every route but /healthz and /readyz needs {how}"
        why = "SOPHIA_AUTH=off" if self.mode == "off" else "no API key exists yet"
        return (
            f"authentication is OFF ({why}): anyone who can reach {self.bind_host} can run "
            "graphs and read every thread. Create a key with `sophia keys create NAME`"
        )

    async def _ensure(self) -> None:
        if self._ready is not None:
            await self._ready()

    async def _still_open(self) -> bool:
        if self.required:
            return False
        if self.mode == "off":
            return True
        now = self._clock()
        if self.keys is not None and now - self._checked_open_at >= self.revalidate_s:
            self._checked_open_at = now
            await self._ensure()
            if await self.keys.any_active():
                self.required = True
                logger.warning("an API key exists now: authentication is on")
        return not self.required

    async def authenticate(
        self, headers: Mapping[str, str], method: str, path: str
    ) -> Caller | AuthFailure:
        """The caller of a request with these headers, or why it has none."""
        try:
            if await self._still_open():
                return OPEN
            credential = _credential(headers, method, path)
            if credential is None:
                return AuthFailure(401, "authentication required: send an API key as "
                                   "x-api-key or Authorization: Bearer")  # fmt: skip
            if isinstance(credential, AuthFailure):
                return credential
            if parse_key(credential) is not None:
                caller = await self.key_caller(credential)
                return caller or AuthFailure(401, "the API key is not valid (unknown, wrong "
                                             "or revoked)")  # fmt: skip
            if self.jwt is not None:
                return self.jwt.verify(credential)
            return AuthFailure(401, "the credential is not an API key of this service")
        except TokenError as exc:
            return AuthFailure(401, str(exc))
        except SophiaError as exc:  # the key table is down
            logger.warning("cannot check an API key: %s", exc)
            return AuthFailure(503, "the key store is unavailable; retry shortly")

    async def key_caller(self, key: str) -> Caller | None:
        """The caller of API key `key`, or None when it is not a valid, active key."""
        digest = hashlib.sha256(key.encode()).digest()
        now = self._clock()
        cached = self._verified.get(digest)
        if cached is not None and now - cached.checked_at < self.revalidate_s:
            return cached.caller
        refused_at = self._refused.get(digest)
        if refused_at is not None and now - refused_at < self.revalidate_s:
            return None
        pending = self._pending.get(digest)
        if pending is not None:  # the same key is being checked for another request
            return await asyncio.shield(pending)
        future: asyncio.Future[Caller | None] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        try:
            caller = await self._check(key, digest, cached)
            future.set_result(caller)
            return caller
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._pending[digest]

    async def _check(self, key: str, digest: bytes, cached: _Verified | None) -> Caller | None:
        key_id = parse_key(key)
        if self.keys is None:
            raise SophiaError("no key table: the engine is not open")
        await self._ensure()
        record = await self.keys.get(key_id) if key_id is not None else None
        now = self._clock()
        if record is None or not record.active:
            self._verified.pop(digest, None)
            _remember(self._refused, digest, now, self.cache_size)
            return None
        if cached is None or cached.secret_hash != record.secret_hash:
            async with self._hashing:
                self.verifications += 1
                ok = await asyncio.to_thread(verify_secret, record.secret_hash, key)
            if not ok:
                _remember(self._refused, digest, now, self.cache_size)
                return None
        self._refused.pop(digest, None)
        verified = _Verified(caller_of_key(record), record.secret_hash, now)
        _remember(self._verified, digest, verified, self.cache_size)
        return verified.caller


def _remember(cache: OrderedDict[bytes, T], digest: bytes, value: T, bound: int) -> None:
    cache[digest] = value
    cache.move_to_end(digest)
    while len(cache) > bound:
        cache.popitem(last=False)


def _credential(headers: Mapping[str, str], method: str, path: str) -> str | AuthFailure | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return AuthFailure(401, "the Authorization header must be 'Bearer <credential>'")
        return value.strip()
    if method in ("GET", "HEAD") and (path == "/dashboard" or path.startswith("/dashboard/")):
        cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        if cookie:
            return cookie
    return None
