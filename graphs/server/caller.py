"""Who is calling: the identity every route scopes its work to.

Authentication (a middleware) sets the request's `Caller`; routes read it with
`caller_of`. ``tenant`` is the owner of what the caller creates (threads, runs, crons,
assistants, store items) and the scope of what it can see: another tenant's records are
as if they did not exist (404). A service running without authentication (local
development on loopback) has the `OPEN` caller: no tenant, every graph, read-write.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

SCOPE_KEY = "sophia.caller"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller (or the open one): tenant, key, subject and permissions."""

    tenant: str | None
    """The owner of what this caller creates; None only when the service runs open."""
    key_id: str | None = None
    """The API key's id (never the key), or None for a JWT or the open caller."""
    subject: str | None = None
    """Who the caller is, for records such as a reviewer's decision (the key's name or the
    token's ``sub``)."""
    graphs: frozenset[str] | None = None
    """The graphs this caller may run or read; None: every graph."""
    read_only: bool = False
    """Whether the caller may only read (no runs, no edits)."""
    max_concurrent_runs: int | None = None
    """Runs this caller may have executing or queued at once; None: no quota of its own."""
    runs_per_minute: int | None = None
    """Runs this caller may start in any 60 s; None: no quota of its own."""

    @property
    def quota_key(self) -> str | None:
        """What the caller's quotas are counted by: its key, else its tenant (a JWT's)."""
        return self.key_id or (f"tenant:{self.tenant}" if self.tenant is not None else None)

    def may_use(self, graph: str) -> bool:
        """Whether the caller may run or read graph `graph`."""
        return self.graphs is None or graph in self.graphs


OPEN = Caller(tenant=None, subject="local")
"""The caller of a service that runs without authentication."""


def caller_of(connection: HTTPConnection) -> Caller:
    """The request's caller, as authentication set it (`OPEN` when it did not)."""
    caller = connection.scope.get(SCOPE_KEY)
    return caller if isinstance(caller, Caller) else OPEN
