"""API keys in the control tables, and thread rows that listings can trust, on SQLite and
on Postgres."""

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


async def test_a_damaged_thread_row_does_not_break_listing(durable_settings: Settings) -> None:
    """A row whose stored JSON cannot be read lists as that thread's own error."""
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        threads = durable.threads
        await threads.create("t-ok", owner="acme", graph_id="deal_review")
        await threads.create("t-bad", owner="acme", graph_id="memory_recall")
        await threads.create("t-new", owner="acme")
        await durable.sql.run(
            "UPDATE sophia_threads SET state_values = ? WHERE thread_id = ?",
            ('{"deal_ids": [', "t-bad"),
        )
        listed = {t.thread_id: t for t in await threads.search(owner="acme")}
        bad = listed["t-bad"]
        assert bad.status == "error" and "cannot be read" in (bad.error or "")
        assert listed["t-ok"].status == "idle"
        scoped = await threads.search(owner="acme", graphs=["deal_review"])
        assert {t.thread_id for t in scoped} == {"t-ok", "t-new"}  # not run yet: any key's
        assert {t.thread_id for t in await threads.search(owner="acme", graphs=[])} == {"t-new"}
