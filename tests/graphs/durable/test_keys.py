"""API keys in the control tables, on SQLite and on Postgres: hashed, verified, revoked."""

from __future__ import annotations

from graphs.durable.store import open_durable
from graphs.server.auth import Authenticator
from stores.settings import Settings


async def test_keys_on_postgres_too(durable_settings: Settings) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        record, key = await durable.keys.create("ci", tenant="acme", graphs=["memory_recall"])
        auth = Authenticator(durable.keys, None, mode="on")
        caller = await auth.key_caller(key)
        assert caller is not None and caller.tenant == "acme"
        assert caller.graphs == frozenset({"memory_recall"}) and caller.subject == "ci"
        assert await auth.key_caller(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        stored = await durable.keys.get(record.key_id)
        assert stored is not None and stored.secret_hash.startswith("$argon2id$")
        assert key not in stored.secret_hash
        assert await durable.keys.revoke(record.key_id)
        assert not await durable.keys.any_active()
