"""Assistant and cron records beside the checkpoints, and the transactions they use, on
SQLite and on Postgres."""

from __future__ import annotations

import asyncio

import pytest

from graphs.durable.assistants import AssistantContent
from graphs.durable.crons import CronRecord
from graphs.durable.errors import AssistantExistsError, CheckpointStoreError
from graphs.durable.store import open_durable
from stores.settings import Settings


async def test_a_failed_transaction_leaves_nothing_behind(durable_settings: Settings) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        content = AssistantContent("echo", "A")
        with pytest.raises(CheckpointStoreError):
            await durable.sql.transaction([
                ("INSERT INTO sophia_assistants (assistant_id, graph_id, name, config, context,"
                 " metadata, version, created_at, updated_at) VALUES (?, ?, ?, '{}', '{}', '{}',"
                 " 1, 'now', 'now')", ("a1", content.graph_id, content.name)),
                ("INSERT INTO no_such_table VALUES (?)", (1,)),
            ])  # fmt: skip
        assert await durable.assistants.get("a1") is None
        rows = await durable.sql.transaction([("SELECT 1", ()), ("SELECT 2", ())])
        assert [list(r) for r in rows] == [[(1,)], [(2,)]]


async def test_assistants_are_versioned_and_scoped_by_owner(durable_settings: Settings) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        store = durable.assistants
        first = AssistantContent("echo", "A", "d", {"tags": ["x"]}, {}, {"team": "a"})
        made = await store.create("a1", first, owner="ana")
        assert (made.version, made.name, made.owner) == (1, "A", "ana")
        assert made.config == {"tags": ["x"]}
        with pytest.raises(AssistantExistsError):
            await store.create("a1", first, owner="ana")
        with pytest.raises(AssistantExistsError):  # another owner's id is taken too
            await store.create("a1", first, owner="bob", if_exists="do_nothing")
        assert (await store.create("a1", first, owner="ana", if_exists="do_nothing")) == made
        assert await store.get("a1", owner="bob") is None
        assert await store.update("a1", AssistantContent("echo", "B"), owner="bob") is None

        second = await store.update("a1", AssistantContent("echo", "B"), owner="ana")
        assert second is not None and (second.version, second.name) == (2, "B")
        assert second.created_at == made.created_at and second.updated_at >= made.updated_at
        assert [v.version for v in await store.versions("a1", owner="ana")] == [2, 1]
        assert await store.versions("a1", owner="bob") == []
        back = await store.set_latest("a1", 1, owner="ana")
        assert back is not None and (back.version, back.name) == (1, "A")
        assert back.config == {"tags": ["x"]}
        assert await store.set_latest("a1", 7, owner="ana") is None
        # Concurrent updates each get their own version number; the newest is current.
        updated = await asyncio.gather(
            *(store.update("a1", AssistantContent("echo", f"n{i}"), owner="ana") for i in range(8))
        )
        numbers = sorted(u.version for u in updated if u is not None)
        assert numbers == list(range(3, 11))
        current = await store.get("a1")
        assert current is not None and current.version == 10
        assert len(await store.versions("a1")) == 10

        assert [a.assistant_id for a in await store.search(owner="ana")] == ["a1"]
        assert await store.search(owner="bob") == []
        assert await store.delete("a1", owner="bob") is False
        assert await store.delete("a1", owner="ana") is True
        assert await store.get("a1") is None and await store.versions("a1") == []
        # The id is free again and starts over at version 1.
        again = await store.create("a1", AssistantContent("echo", "C"), owner="bob")
        assert again.version == 1 and [v.name for v in await store.versions("a1")] == ["C"]


def cron(cron_id: str, next_run_at: int | None, owner: str | None = "ana") -> CronRecord:
    return CronRecord(
        cron_id=cron_id, assistant_id="a1", thread_id=None, schedule="* * * * *",
        timezone=None, end_time=None, enabled=True, on_run_completed="delete",
        payload={"input": {"word": "x"}}, metadata={"m": 1}, user_id="u",
        next_run_at=next_run_at, owner=owner,
    )  # fmt: skip


async def test_a_due_cron_is_claimed_once_however_many_claim_it(
    durable_settings: Settings,
) -> None:
    async with open_durable(durable_settings.with_absolute_paths()) as durable:
        await durable.ensure_ready()
        crons = durable.crons
        await crons.create(cron("c1", 1000))
        await crons.create(cron("c2", 5000, owner="bob"))
        await crons.create(cron("c3", 900))
        await crons.update("c3", {"enabled": False})
        assert [c.cron_id for c in await crons.due(1000)] == ["c1"]
        assert [c.cron_id for c in await crons.due(6000)] == ["c1", "c2"]
        claims = await asyncio.gather(*(crons.claim("c1", 1000, 1060) for _ in range(10)))
        assert claims.count(True) == 1
        assert await crons.claim("c1", 1000, 1060) is False  # that time was fired already
        got = await crons.get("c1")
        assert got is not None and got.next_run_at == 1060
        assert got.payload == {"input": {"word": "x"}}
        assert await crons.get("c1", owner="bob") is None
        assert [c.cron_id for c in await crons.search(owner="ana")] == ["c3", "c1"]
        assert [c.cron_id for c in await crons.search(enabled=False)] == ["c3"]
        assert await crons.delete("c1", owner="bob") is False
        assert await crons.delete_for_assistant("a1", owner="ana") == 2
        assert [c.cron_id for c in await crons.search()] == ["c2"]
