"""Where a load's time goes, for the `workers` bench: CPU per process group, Postgres
rows written, Redis commands, Postgres connections.

    meter = Usage(groups, postgres_url=..., redis_url=...)
    await meter.start()
    ...                       # the load
    used = await meter.stop(settle_s=11)

CPU is read from each process (psutil: user + system seconds, its descendants included);
the Postgres group is the backends whose ``application_name`` is the bench's (listed at
both ends: a backend opened during the load counts from its start). Rows written are
``n_tup_ins + n_tup_upd + n_tup_del`` of the schema's tables (pg_stat_user_tables; a
backend reports its counts up to 10 s late when idle, hence `settle_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.worker_cluster import APPLICATION_NAME


def table_group(table: str) -> str:
    """The group a table's writes are counted in: each of LangGraph's checkpoint tables
    (``checkpoints``: one row per superstep), ``queue`` (procrastinate's tables),
    ``runs`` (sophia_runs) or ``other`` (threads, assistants, migrations)."""
    if table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
        return table
    if table.startswith("procrastinate"):
        return "queue"
    return "runs" if table == "sophia_runs" else "other"


def _cpu(pid: int, *, tree: bool = True) -> float:
    """User + system CPU seconds of `pid` and (when `tree`) its descendants (0 if gone)."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        for p in [proc, *(proc.children(recursive=True) if tree else [])]:
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system
    return total


def child_pid(marker: str) -> int | None:
    """The pid of this process's child whose command line contains `marker`."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(marker in part for part in child.cmdline()):
                return child.pid
    return None


@dataclass
class Used:
    """What a load cost: CPU seconds by group, the machine's CPU busy (% of all cores,
    and seconds), rows written by table group, Redis commands, peak Postgres
    connections."""

    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy_pct: float = 0.0
    machine_busy_s: float = 0.0
    rows: dict[str, float] = field(default_factory=dict)
    redis_commands: float = 0.0
    pg_connections: int = 0
    statements: int = 0


class Usage:
    """Measures a load (see the module docstring). `groups` maps a group name to the
    pids it holds (a callable: read when the load starts and ends), each counted with its
    descendants except in the groups named in `alone`; `statements` counts the warehouse
    statements made so far (`bench.warehouse_proxy`)."""

    def __init__(
        self, groups: dict[str, Callable[[], list[int]]], *,
        postgres_url: str | None, redis_url: str, alone: frozenset[str] = frozenset(),
        statements: Callable[[], int] = lambda: 0,
    ) -> None:  # fmt: skip
        self.groups = groups
        self.statements = statements
        self._statements = 0
        self.alone = alone
        self.postgres_url = postgres_url
        self.redis_url = redis_url
        self._cpu: dict[tuple[str, int], float] = {}
        self._rows: dict[str, float] = {}
        self._redis = 0.0
        self._machine: Any = None
        self._peak = 0
        self._watch: asyncio.Task[None] | None = None

    async def _backends(self) -> list[int]:
        if self.postgres_url is None:
            return []
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.postgres_url) as conn:
            cur = await conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                (APPLICATION_NAME,),
            )
            return [int(r[0]) for r in await cur.fetchall()]

    async def _snapshot(self) -> dict[tuple[str, int], float]:
        pids = {name: pids() for name, pids in self.groups.items()}
        pids["postgres"] = await self._backends()
        return {(g, pid): _cpu(pid, tree=g not in self.alone)
                for g, ps in pids.items() for pid in ps}  # fmt: skip

    async def _table_rows(self) -> dict[str, float]:
        if self.postgres_url is None:
            return {}
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.postgres_url) as conn:
            cur = await conn.execute(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
                " WHERE schemaname = current_schema()"
            )
            rows: dict[str, float] = {}
            for name, count in await cur.fetchall():
                group = table_group(str(name))
                rows[group] = rows.get(group, 0.0) + float(count)
            return rows

    async def _redis_commands(self) -> float:
        import redis.asyncio as aioredis

        client: Any = aioredis.from_url(self.redis_url)
        try:
            return float((await client.info("stats"))["total_commands_processed"])
        finally:
            await client.aclose()

    async def _watch_connections(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                self._peak = max(self._peak, len(await self._backends()))
            await asyncio.sleep(0.5)

    async def start(self, *, settle_s: float = 0.0) -> None:
        """Read every counter (the table counts after `settle_s`, so that the writes
        before are all reported): the load starts now."""
        if settle_s > 0:
            await asyncio.sleep(settle_s)
            self._rows = await self._table_rows()
        self._redis = await self._redis_commands()
        self._machine = psutil.cpu_times()
        self._statements = self.statements()
        self._cpu = await self._snapshot()
        self._peak = 0
        self._watch = asyncio.create_task(self._watch_connections())

    async def stop(self, *, settle_s: float = 0.0) -> Used:
        """Read every counter again (the table counts after `settle_s`, 0: not read);
        what the load used."""
        machine = psutil.cpu_times()
        end = await self._snapshot()
        redis_after = await self._redis_commands()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        used = Used(redis_commands=redis_after - self._redis, pg_connections=self._peak,
                    statements=self.statements() - self._statements)  # fmt: skip
        for (group, pid), seconds in end.items():
            used.cpu_s[group] = used.cpu_s.get(group, 0.0) + seconds - self._cpu.get(
                (group, pid), 0.0)  # fmt: skip
        idle = lambda t: t.idle + getattr(t, "iowait", 0.0)  # noqa: E731
        busy = sum(machine) - idle(machine) - (sum(self._machine) - idle(self._machine))
        wall = sum(machine) - sum(self._machine)
        used.machine_busy_s = busy
        used.machine_busy_pct = 100.0 * busy / wall if wall > 0 else 0.0
        if settle_s > 0:
            await asyncio.sleep(settle_s)
            after = await self._table_rows()
            used.rows = {g: after.get(g, 0.0) - self._rows.get(g, 0.0) for g in after}
        return used
