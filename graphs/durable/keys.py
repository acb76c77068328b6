"""API keys: the ``sophia_api_keys`` table beside the threads and checkpoints.

A key is ``sophia_<key id>_<secret>``: the id (12 hex digits) finds the row, the whole key
is checked against the row's argon2id hash. The key itself is shown once, when it is
made (`KeyStore.create`), and never stored, logged or shown again: rows hold the hash and
a non-secret `ApiKey.prefix` (the id and the secret's first 4 characters) so that a list
of keys can be read by a human. A revoked key keeps its row (``revoked_at``) for audit.

Each key carries what the service needs to scope a caller: its tenant (the owner of the
threads, runs and crons it creates; by default the key's own id, so two keys share data
only when made for one tenant), the graphs it may use (None: all), whether it may only
read, and its quotas (concurrent runs, runs per minute; None: the server's defaults).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from graphs.durable.sql import Row, Sql, from_json, now_iso, to_json
from stores.errors import SophiaError

KEY_PREFIX = "sophia_"
_KEY = re.compile(r"^sophia_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_CREATE = (
    "CREATE TABLE IF NOT EXISTS sophia_api_keys ("
    " key_id TEXT PRIMARY KEY, prefix TEXT NOT NULL, secret_hash TEXT NOT NULL,"
    " name TEXT NOT NULL, tenant TEXT NOT NULL, graphs TEXT, read_only INTEGER NOT NULL,"
    " max_concurrent_runs INTEGER, runs_per_minute INTEGER, created_at TEXT NOT NULL,"
    " revoked_at TEXT)"
)
_COLUMNS = (
    "key_id, prefix, secret_hash, name, tenant, graphs, read_only, max_concurrent_runs,"
    " runs_per_minute, created_at, revoked_at"
)


class ApiKeyError(SophiaError):
    """A key cannot be made or changed as asked (bad name, bad quota, unknown id)."""


def hasher() -> PasswordHasher:
    """argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane): a verification
    takes tens of milliseconds and 19 MiB, so the service verifies a key once and then
    caches it (`graphs.server.auth`). Keys are 256 random bits; the slow hash is there so
    that a leaked table is useless even to someone who can try billions of guesses."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def parse_key(text: str) -> str | None:
    """The key id of `text` when it has the form of one of our keys, else None."""
    match = _KEY.match(text)
    return match.group(1) if match else None


def verify_secret(secret_hash: str, presented: str) -> bool:
    """Whether `presented` is the key `secret_hash` was made from (slow: call it in a
    thread)."""
    try:
        return hasher().verify(secret_hash, presented)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class ApiKey:
    """One key's row: who it is for and what it may do (never the key itself)."""

    key_id: str
    prefix: str
    name: str
    tenant: str
    graphs: tuple[str, ...] | None
    read_only: bool
    max_concurrent_runs: int | None
    runs_per_minute: int | None
    created_at: str
    revoked_at: str | None = None
    secret_hash: str = field(default="", repr=False)

    @property
    def active(self) -> bool:
        """Whether the key has not been revoked."""
        return self.revoked_at is None

    @classmethod
    def from_row(cls, row: Row) -> ApiKey:
        """A key from a row of `_COLUMNS`, in that order."""
        graphs = from_json(row[5])
        return cls(
            key_id=row[0],
            prefix=row[1],
            secret_hash=row[2],
            name=row[3],
            tenant=row[4],
            graphs=tuple(graphs) if graphs is not None else None,
            read_only=bool(row[6]),
            max_concurrent_runs=row[7],
            runs_per_minute=row[8],
            created_at=row[9],
            revoked_at=row[10],
        )

    def public(self) -> dict[str, object]:
        """The listing form: every field but the hash."""
        return {
            "key_id": self.key_id,
            "prefix": self.prefix,
            "name": self.name,
            "tenant": self.tenant,
            "graphs": list(self.graphs) if self.graphs is not None else None,
            "read_only": self.read_only,
            "max_concurrent_runs": self.max_concurrent_runs,
            "runs_per_minute": self.runs_per_minute,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _limit(name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ApiKeyError(f"{name} must be at least 1 (or left out for the server's default)")
    return value


class KeyStore:
    """API keys in the control tables; every statement binds its values."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def setup(self) -> None:
        """Create the table if missing."""
        await self.sql.run(_CREATE)

    async def create(
        self,
        name: str,
        *,
        tenant: str | None = None,
        graphs: Sequence[str] | None = None,
        read_only: bool = False,
        max_concurrent_runs: int | None = None,
        runs_per_minute: int | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key: its row and the key itself (returned here once, stored hashed)."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ApiKeyError("a key needs a name of 1 to 200 characters")
        if graphs is not None and not all(isinstance(g, str) and g for g in graphs):
            raise ApiKeyError("graphs must be graph names")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = f"{KEY_PREFIX}{key_id}_{secret}"
        secret_hash = await asyncio.to_thread(hasher().hash, key)
        record = ApiKey(
            key_id=key_id,
            prefix=f"{KEY_PREFIX}{key_id}_{secret[:4]}",
            name=name,
            tenant=(tenant or "").strip() or key_id,
            graphs=tuple(dict.fromkeys(graphs)) if graphs is not None else None,
            read_only=read_only,
            max_concurrent_runs=_limit("max_concurrent_runs", max_concurrent_runs),
            runs_per_minute=_limit("runs_per_minute", runs_per_minute),
            created_at=now_iso(),
            secret_hash=secret_hash,
        )
        await self.sql.run(
            f"INSERT INTO sophia_api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                record.key_id,
                record.prefix,
                record.secret_hash,
                record.name,
                record.tenant,
                to_json(list(record.graphs)) if record.graphs is not None else None,
                int(record.read_only),
                record.max_concurrent_runs,
                record.runs_per_minute,
                record.created_at,
                None,
            ),
        )
        return record, key

    async def get(self, key_id: str) -> ApiKey | None:
        """The row of `key_id` (revoked or not), or None."""
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_api_keys WHERE key_id = ?",  # noqa: S608
            (key_id,),
        )
        return ApiKey.from_row(rows[0]) if rows else None

    async def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Keys, oldest first (revoked ones only when asked)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self.sql.rows(
            f"SELECT {_COLUMNS} FROM sophia_api_keys{where} ORDER BY created_at"  # noqa: S608
        )
        return [ApiKey.from_row(r) for r in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke `key_id`; whether an active key of that id existed."""
        rows = await self.sql.rows(
            "UPDATE sophia_api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"
            " RETURNING key_id",
            (now_iso(), key_id),
        )
        return bool(rows)

    async def any_active(self) -> bool:
        """Whether at least one key has not been revoked."""
        rows = await self.sql.rows(
            "SELECT key_id FROM sophia_api_keys WHERE revoked_at IS NULL LIMIT 1"
        )
        return bool(rows)
