"""Checkpoints are decoded with an allow-list: a hostile row cannot run code when read.

A real threaded run writes its checkpoints; the test then rewrites one stored value, in
the store's own table, as LangGraph's msgpack "call this constructor" extension naming
``os.system`` — what an attacker with write access to the checkpoint database could plant.
Reading the thread's state must not run it, on SQLite and on Postgres.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import ormsgpack
from langgraph.checkpoint.serde.jsonplus import EXT_CONSTRUCTOR_SINGLE_ARG

from graphs.durable.serde import checkpoint_serializer
from graphs.durable.store import sqlite_path
from graphs.engine.engine import Engine
from stores.settings import Settings


def _hostile(marker: Path) -> bytes:
    """msgpack for ``os.system("touch <marker>")`` in LangGraph's extension format."""
    call = ormsgpack.packb(("os", "system", f"touch {marker}"))
    return ormsgpack.packb(ormsgpack.Ext(EXT_CONSTRUCTOR_SINGLE_ARG, call))


def test_the_serializer_refuses_what_is_not_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = checkpoint_serializer().loads_typed(("msgpack", _hostile(marker)))
    assert not marker.exists()
    assert value != 0  # not the return code of os.system: the call never happened
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    assert checkpoint_serializer().loads_typed(checkpoint_serializer().dumps_typed(now)) == now


def _plant_sqlite(settings: Settings, thread_id: str, payload: bytes) -> None:
    import ormsgpack as om

    with sqlite3.connect(sqlite_path(settings)) as conn:
        checkpoint_id, kind, blob = conn.execute(
            "SELECT checkpoint_id, type, checkpoint FROM checkpoints WHERE thread_id = ? "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            (thread_id,),
        ).fetchone()
        assert kind == "msgpack"
        keep_ext = om.Ext  # leave LangGraph's own extension values as they are
        checkpoint = om.unpackb(blob, ext_hook=keep_ext, option=om.OPT_NON_STR_KEYS)
        checkpoint["channel_values"]["deal_ids"] = om.unpackb(payload, ext_hook=keep_ext)
        conn.execute(
            "UPDATE checkpoints SET checkpoint = ? WHERE thread_id = ? AND checkpoint_id = ?",
            (om.packb(checkpoint), thread_id, checkpoint_id),
        )


def _plant_postgres(settings: Settings, thread_id: str, payload: bytes) -> None:
    import psycopg

    assert settings.postgres_url is not None
    with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
        updated = conn.execute(
            "UPDATE checkpoint_blobs SET type = 'msgpack', blob = %s "
            "WHERE thread_id = %s AND channel = 'deal_ids'",
            (payload, thread_id),
        ).rowcount
    assert updated >= 1


async def test_a_hostile_checkpoint_row_is_refused_with_no_side_effect(
    durable_settings: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    async with Engine(durable_settings) as engine:
        await engine.invoke("deal_review", {"deal_ids": ["D-00001"]}, thread_id="t-hostile")
    if durable_settings.postgres_url:
        _plant_postgres(durable_settings, "t-hostile", _hostile(marker))
    else:
        _plant_sqlite(durable_settings, "t-hostile", _hostile(marker))
    async with Engine(durable_settings) as engine:
        outcome: Any
        try:
            outcome = (await engine.get_state("deal_review", "t-hostile")).values.get("deal_ids")
        except Exception as exc:  # refusing to read the thread at all is fine too
            outcome = exc
    assert not marker.exists(), "the checkpoint decoder ran os.system"
    assert outcome != 0
