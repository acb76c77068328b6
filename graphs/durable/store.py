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

A thread record (id, graph, metadata, times) lives in a ``sophia_threads`` table beside
the checkpoints, so threads survive a restart exactly as their checkpoints do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver

from stores.errors import (
    CheckpointStoreError,
    CheckpointStoreUnavailableError,
    ThreadError,
)
from stores.settings import Settings
from stores.urls import redact_url

PG_POOL_MAX_SIZE = 16
PG_ACQUIRE_TIMEOUT_S = 5.0
PG_CONNECT_TIMEOUT_S = 3

_DDL = (
    "CREATE TABLE IF NOT EXISTS sophia_threads ("
    " thread_id TEXT PRIMARY KEY, graph_id TEXT, metadata TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
)


class ThreadExistsError(ThreadError):
    """A thread with this id already exists (create with ``if_exists='raise'``)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} already exists")
        self.thread_id = thread_id


@dataclass(frozen=True)
class ThreadRecord:
    """A thread: its id, the graph its runs use (None before the first run), metadata."""

    thread_id: str
    graph_id: str | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ThreadRecord:
        """A record from a row of the five columns, in table order."""
        return cls(row[0], row[1], json.loads(row[2]), row[3], row[4])


# (sql with ? placeholders, params, fetch rows?) -> rows
Execute = Callable[[str, tuple[Any, ...], bool], Awaitable[list[tuple[Any, ...]]]]


class ThreadStore:
    """Thread records in the checkpoint database; every statement binds its values.

    Threads are never deleted, so which graph a thread runs is cached in process (at
    most `cache_size` entries): a run on a known thread costs no extra statement.
    """

    def __init__(self, execute: Execute, *, cache_size: int = 10_000) -> None:
        self._execute = execute
        self._graphs: OrderedDict[str, str | None] = OrderedDict()
        self._cache_size = cache_size

    def _remember(self, thread_id: str, graph_id: str | None) -> None:
        self._graphs[thread_id] = graph_id
        self._graphs.move_to_end(thread_id)
        while len(self._graphs) > self._cache_size:
            self._graphs.popitem(last=False)

    async def exists(self, thread_id: str) -> bool:
        """Whether thread `thread_id` exists (cached once seen)."""
        return thread_id in self._graphs or await self.get(thread_id) is not None

    async def setup(self) -> None:
        """Create the table if it is missing."""
        await self._execute(_DDL, (), False)

    async def get(self, thread_id: str) -> ThreadRecord | None:
        """The thread `thread_id`, or None."""
        rows = await self._execute(
            "SELECT thread_id, graph_id, metadata, created_at, updated_at "
            "FROM sophia_threads WHERE thread_id = ?",
            (thread_id,),
            True,
        )
        if not rows:
            return None
        record = ThreadRecord.from_row(rows[0])
        self._remember(thread_id, record.graph_id)
        return record

    async def create(
        self,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        graph_id: str | None = None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> ThreadRecord:
        """Create a thread (a new uuid when `thread_id` is None).

        An existing id raises ThreadExistsError, or is returned unchanged with
        ``if_exists='do_nothing'``.
        """
        tid = thread_id or str(uuid.uuid4())
        now = _now()
        rows = await self._execute(
            "INSERT INTO sophia_threads (thread_id, graph_id, metadata, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (thread_id) DO NOTHING RETURNING thread_id",
            (tid, graph_id, json.dumps(metadata or {}), now, now),
            True,
        )
        if not rows and if_exists == "raise":
            raise ThreadExistsError(tid)
        record = await self.get(tid)
        if record is None:  # deleted in between: vanishingly rare, but say so
            raise CheckpointStoreError(f"thread {tid!r} vanished while being created")
        return record

    async def attach(self, thread_id: str, graph_id: str) -> None:
        """Record that runs of `thread_id` use `graph_id` (creating the thread if new)."""
        if self._graphs.get(thread_id) == graph_id:
            return
        now = _now()
        await self._execute(
            "INSERT INTO sophia_threads (thread_id, graph_id, metadata, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (thread_id) DO UPDATE SET graph_id = excluded.graph_id, "
            "updated_at = excluded.updated_at",
            (thread_id, graph_id, "{}", now, now),
            False,
        )
        self._remember(thread_id, graph_id)

    async def search(self, limit: int = 10, offset: int = 0) -> list[ThreadRecord]:
        """Threads, most recently updated first."""
        rows = await self._execute(
            "SELECT thread_id, graph_id, metadata, created_at, updated_at "
            "FROM sophia_threads ORDER BY updated_at DESC LIMIT ? OFFSET ?",
            (limit, offset),
            True,
        )
        return [ThreadRecord.from_row(r) for r in rows]


@dataclass
class Durable:
    """The open checkpoint store: LangGraph checkpointer, thread records, backend name."""

    checkpointer: BaseCheckpointSaver[Any]
    threads: ThreadStore
    backend: Literal["sqlite", "postgres", "custom"]
    location: str
    _setup: Callable[[], Awaitable[None]]
    _ready: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ensure_ready(self) -> None:
        """Create the tables once; CheckpointStoreUnavailableError if the store is down."""
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            try:
                await self._setup()
                await self.threads.setup()
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
    from concurrent.futures import ThreadPoolExecutor

    from graphs.durable.sqlite_saver import ThreadedSqliteSaver

    if path != ":memory:":
        await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
    # One thread owns the connection: every checkpoint call is one hand-off to it.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sophia-checkpoints")
    loop = asyncio.get_running_loop()

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False)
        # WAL with synchronous=NORMAL: a commit is in the WAL before it returns, so a
        # killed process loses nothing; only a power loss could drop the last commits.
        # FULL would fsync every checkpoint (several times slower here).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    try:
        conn = await loop.run_in_executor(executor, connect)
    except Exception as exc:
        executor.shutdown(wait=False)
        raise CheckpointStoreUnavailableError(
            f"cannot open the SQLite checkpoint file {path}: {exc}"
        ) from exc
    try:
        saver = ThreadedSqliteSaver(conn, executor)

        def run_sql(sql: str, params: tuple[Any, ...], fetch: bool) -> list[tuple[Any, ...]]:
            with saver.lock:
                cursor = conn.execute(sql, params)
                rows = [tuple(r) for r in cursor.fetchall()] if fetch else []
                if not sql.startswith("SELECT"):
                    conn.commit()
                return rows

        async def execute(sql: str, params: tuple[Any, ...], fetch: bool) -> list[tuple[Any, ...]]:
            try:
                return await saver.run(run_sql, sql, params, fetch)
            except Exception as exc:
                raise CheckpointStoreError(f"SQLite checkpoint store {path}: {exc}") from exc

        durable = Durable(saver, ThreadStore(execute), "sqlite", path, saver.asetup)
        await durable.ensure_ready()
        yield durable
    finally:
        await loop.run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)


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
        saver = AsyncPostgresSaver(conn=pool)

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

        yield Durable(saver, ThreadStore(execute), "postgres", location, saver.setup)
    finally:
        await pool.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


@contextlib.asynccontextmanager
async def open_durable_with(checkpointer: BaseCheckpointSaver[Any]) -> AsyncIterator[Durable]:
    """Durable state on a caller's checkpointer; thread records in process memory.

    The caller owns `checkpointer`'s lifetime. Thread records do not outlive the process,
    so use this for tests and embedded use; servers use `open_durable`.
    """
    import aiosqlite

    conn = await aiosqlite.connect(":memory:")
    try:
        lock = asyncio.Lock()

        async def execute(sql: str, params: tuple[Any, ...], fetch: bool) -> list[tuple[Any, ...]]:
            async with lock:
                async with conn.execute(sql, params) as cursor:
                    rows = [tuple(r) for r in await cursor.fetchall()] if fetch else []
                await conn.commit()
            return rows

        async def setup() -> None:
            maybe = getattr(checkpointer, "setup", None)
            if maybe is not None:
                await maybe()

        yield Durable(
            checkpointer, ThreadStore(execute), "custom", type(checkpointer).__name__, setup
        )
    finally:
        await conn.close()
