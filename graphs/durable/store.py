"""Durable state for threaded runs: the LangGraph checkpointer and the thread records.

    async with open_durable(settings) as durable:
        graph = builder.compile(checkpointer=durable.checkpointer)
        await durable.ensure_ready()          # CheckpointStoreUnavailableError if down
        record = await durable.threads.create(None, {"user": "ana"})

The backend follows the settings: Postgres (`langgraph-checkpoint-postgres`'s
`AsyncPostgresSaver` on a psycopg connection pool) when ``SOPHIA_POSTGRES_URL`` is set,
otherwise SQLite in ``settings.checkpoint_db`` under the data dir
(`langgraph-checkpoint-sqlite`'s `SqliteSaver` on a thread of its own:
`graphs.durable.sqlite_saver.ThreadedSqliteSaver`, same tables as `AsyncSqliteSaver`).
Opening never fails because Postgres is down: the pool connects in the background and
the first threaded run checks the store (`ensure_ready`), so runs without a thread keep
working while threaded runs fail with `CheckpointStoreUnavailableError`.

Thread and run records (`graphs.durable.threads`, `graphs.durable.runs`) live in tables
beside the checkpoints, so they survive a restart exactly as the checkpoints do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver

from graphs.durable.assistants import AssistantStore
from graphs.durable.crons import CronStore
from graphs.durable.errors import (
    CheckpointStoreError,
    CheckpointStoreUnavailableError,
)
from graphs.durable.keys import KeyStore
from graphs.durable.pg_lock import advisory_lock
from graphs.durable.runs import RunStore
from graphs.durable.serde import checkpoint_serializer
from graphs.durable.sql import (
    Sql,
    Statement,
    register_aiosqlite_functions,
    register_sqlite_functions,
)
from graphs.durable.threads import ThreadStore
from stores.settings import Settings
from stores.urls import redact_url

PG_POOL_MAX_SIZE = 16
PG_ACQUIRE_TIMEOUT_S = 5.0
PG_CONNECT_TIMEOUT_S = 3
SETUP_LOCK = 0x50F1A0
"""The Postgres advisory lock held while one process creates the tables."""

@dataclass
class Durable:
    """The open checkpoint store: LangGraph's checkpointer, and the thread, run, assistant,
    cron and API key records in tables beside the checkpoints (same database)."""

    checkpointer: BaseCheckpointSaver[Any]
    sql: Sql
    backend: Literal["sqlite", "postgres", "custom"]
    location: str
    _setup: Callable[[], Awaitable[None]]
    threads: ThreadStore = field(init=False)
    runs: RunStore = field(init=False)
    assistants: AssistantStore = field(init=False)
    crons: CronStore = field(init=False)
    keys: KeyStore = field(init=False)
    _ready: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    setup_guard: Callable[[], contextlib.AbstractAsyncContextManager[None]] = field(
        default=contextlib.nullcontext
    )
    """Held while the tables are created (Postgres: an advisory lock, so that processes
    starting at once against a new database do not race on its schema)."""

    def __post_init__(self) -> None:
        self.threads = ThreadStore(self.sql)
        self.runs = RunStore(self.sql)
        self.assistants = AssistantStore(self.sql)
        self.crons = CronStore(self.sql)
        self.keys = KeyStore(self.sql)

    async def ensure_ready(self) -> None:
        """Create the tables once; CheckpointStoreUnavailableError if the store is down."""
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            try:
                async with self.setup_guard():
                    await self._setup()
                    await self.threads.setup()
                    await self.runs.setup()
                    await self.assistants.setup()
                    await self.crons.setup()
                    await self.keys.setup()
            except CheckpointStoreError:
                raise
            except Exception as exc:
                raise CheckpointStoreUnavailableError(
                    f"the {self.backend} checkpoint store at {self.location} is unavailable: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self._ready = True


def sqlite_path(settings: Settings) -> str:
    """The SQLite checkpoint file for `settings` (``:memory:`` stays as it is)."""
    if settings.checkpoint_db == ":memory:":
        return ":memory:"
    path = Path(settings.checkpoint_db)
    return str(path if path.is_absolute() else settings.data_dir / path)


@contextlib.asynccontextmanager
async def open_durable(settings: Settings) -> AsyncIterator[Durable]:
    """Open the checkpoint store chosen by `settings`; closed on exit."""
    if settings.postgres_url:
        async with _open_postgres(settings.postgres_url) as durable:
            yield durable
    else:
        async with _open_sqlite(sqlite_path(settings)) as durable:
            yield durable


@contextlib.asynccontextmanager
async def _open_sqlite(path: str) -> AsyncIterator[Durable]:
    import sqlite3

    from graphs.durable.group_commit import GroupCommitConnection, GroupCommitExecutor
    from graphs.durable.sqlite_saver import ThreadedSqliteSaver

    if path != ":memory:":
        await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
    # One thread owns the connection: every checkpoint call is one hand-off to it, and
    # the calls queued together commit together.
    executor = GroupCommitExecutor()
    loop = asyncio.get_running_loop()

    def connect() -> GroupCommitConnection:
        conn = sqlite3.connect(path, check_same_thread=False, factory=GroupCommitConnection)
        # WAL with synchronous=NORMAL: a commit is in the WAL before it returns, so a
        # killed process loses nothing; only a power loss could drop the last commits.
        # FULL would fsync every checkpoint (several times slower here).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        register_sqlite_functions(conn)
        return conn

    try:
        conn = await loop.run_in_executor(executor, connect)
        executor.attach(conn)
    except Exception as exc:
        executor.shutdown(wait=False)
        raise CheckpointStoreUnavailableError(
            f"cannot open the SQLite checkpoint file {path}: {exc}"
        ) from exc
    try:
        saver = ThreadedSqliteSaver(conn, executor, serde=checkpoint_serializer())

        def run_sql(sql: str, params: tuple[Any, ...], fetch: bool) -> list[tuple[Any, ...]]:
            with saver.lock:
                cursor = conn.execute(sql, params)
                rows = [tuple(r) for r in cursor.fetchall()] if fetch else []
                if not sql.startswith("SELECT"):
                    conn.commit()
                return rows

        def run_all(statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
            with saver.lock:  # one implicit transaction: committed at the end, or rolled back
                try:
                    out = [[tuple(r) for r in conn.execute(sql, params).fetchall()]
                           for sql, params in statements]  # fmt: skip
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
                return out

        async def execute(sql: str, params: tuple[Any, ...], fetch: bool) -> list[tuple[Any, ...]]:
            try:
                return await saver.run(run_sql, sql, params, fetch)
            except Exception as exc:
                raise CheckpointStoreError(f"SQLite checkpoint store {path}: {exc}") from exc

        async def execute_all(statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
            try:
                return await saver.run(run_all, statements)
            except Exception as exc:
                raise CheckpointStoreError(f"SQLite checkpoint store {path}: {exc}") from exc

        sql = Sql(execute, "sqlite", execute_all)
        durable = Durable(saver, sql, "sqlite", path, saver.asetup)
        await durable.ensure_ready()
        yield durable
    finally:
        # Finish (and commit) what is queued, then close: not as a call, which a group
        # would run inside its transaction.
        await asyncio.to_thread(executor.shutdown, True)
        await asyncio.to_thread(conn.close)


@contextlib.asynccontextmanager
async def _open_postgres(url: str) -> AsyncIterator[Durable]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=PG_POOL_MAX_SIZE,
        timeout=PG_ACQUIRE_TIMEOUT_S,
        open=False,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
        },
    )
    # wait=False: a Postgres that is down must not stop the engine from opening.
    await pool.open(wait=False)
    location = redact_url(url)
    try:
        saver = AsyncPostgresSaver(conn=pool, serde=checkpoint_serializer())

        async def execute(sql: str, params: tuple[Any, ...], fetch: bool) -> list[tuple[Any, ...]]:
            try:
                async with pool.connection() as conn:
                    cur = await conn.execute(sql.replace("?", "%s"), params)
                    rows = await cur.fetchall() if fetch else []
                return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]
            except Exception as exc:
                raise CheckpointStoreUnavailableError(
                    f"Postgres checkpoint store {location}: {type(exc).__name__}: {exc}"
                ) from exc

        async def execute_all(statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
            try:
                async with pool.connection() as conn, conn.transaction():
                    out = []
                    for sql, params in statements:
                        cur = await conn.execute(sql.replace("?", "%s"), params)
                        rows = await cur.fetchall() if cur.description is not None else []
                        out.append([tuple(r.values()) if isinstance(r, dict) else tuple(r)
                                    for r in rows])  # fmt: skip
                return out
            except Exception as exc:
                raise CheckpointStoreUnavailableError(
                    f"Postgres checkpoint store {location}: {type(exc).__name__}: {exc}"
                ) from exc

        @contextlib.asynccontextmanager
        async def one_setup_at_a_time() -> AsyncIterator[None]:
            async with pool.connection() as conn, advisory_lock(conn, SETUP_LOCK):
                yield

        sql = Sql(execute, "postgres", execute_all)
        durable = Durable(saver, sql, "postgres", location, saver.setup)
        durable.setup_guard = one_setup_at_a_time
        yield durable
    finally:
        await pool.close()




@contextlib.asynccontextmanager
async def open_durable_with(checkpointer: BaseCheckpointSaver[Any]) -> AsyncIterator[Durable]:
    """Durable state on a caller's checkpointer; thread records in process memory.

    The caller owns `checkpointer`'s lifetime. Thread records do not outlive the process,
    so use this for tests and embedded use; servers use `open_durable`.
    """
    import aiosqlite

    conn = await aiosqlite.connect(":memory:")
    try:
        await register_aiosqlite_functions(conn)
        lock = asyncio.Lock()

        async def execute(sql: str, params: tuple[Any, ...], fetch: bool) -> list[tuple[Any, ...]]:
            async with lock:
                async with conn.execute(sql, params) as cursor:
                    rows = [tuple(r) for r in await cursor.fetchall()] if fetch else []
                await conn.commit()
            return rows

        async def execute_all(statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
            async with lock:
                try:
                    out = []
                    for sql, params in statements:
                        async with conn.execute(sql, params) as cursor:
                            out.append([tuple(r) for r in await cursor.fetchall()])
                except BaseException:
                    await conn.rollback()
                    raise
                await conn.commit()
            return out

        async def setup() -> None:
            maybe = getattr(checkpointer, "setup", None)
            if maybe is not None:
                await maybe()

        yield Durable(checkpointer, Sql(execute, "sqlite", execute_all), "custom",
                      type(checkpointer).__name__, setup)  # fmt: skip
    finally:
        await conn.close()
