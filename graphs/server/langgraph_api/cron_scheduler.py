"""The cron scheduler: fires due crons as runs, each scheduled time once.

Crons are rows of ``sophia_crons`` (`graphs.durable.crons`), in the database every server
shares, so the schedule survives restarts. Every `POLL_S` seconds the scheduler reads
the due crons and claims each with one conditional UPDATE (``... SET next_run_at = next
WHERE cron_id = ? AND next_run_at = due``); only the process whose statement changed the
row starts the run, so any number of servers fire a scheduled time once. A time missed
while no server ran is fired once when one comes back (as LangGraph's server does).

Why not APScheduler: its 3.x job stores are documented not to be shared between
schedulers (two processes on one store may run a job twice), its SQLAlchemy store would
bring SQLAlchemy and a second connection pool to the same database, and its 4.x line
that coordinates schedulers is a pre-release. The claim above is one statement on the
tables we already have; croniter (what LangGraph's server uses) computes the times, so
schedules mean what they mean there.

A fired cron starts a run through the app's `RunManager` as its owner, with its
assistant's current config under the cron's own: on its thread (a busy thread queues
the run: ``multitask_strategy`` 'enqueue' by default), or, for a cron without a thread,
without one (``on_run_completed='delete'``, the default: nothing is left behind, as
LangGraph deletes the thread it made) or on a new thread it keeps (``'keep'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from graphs.durable.crons import CronRecord
from graphs.engine.engine import Engine
from graphs.server.caller import Caller
from graphs.server.langgraph_api.assistants import assistant_settings, run_config
from graphs.server.langgraph_api.cron_models import next_fire
from graphs.server.langgraph_api.run_models import RunCreate
from graphs.server.langgraph_api.runs import RunManager
from stores.errors import SophiaError

logger = logging.getLogger(__name__)

POLL_S = 1.0
"""How often due crons are looked for (schedules have one-second resolution at most)."""
HISTORY = 1000


def epoch(iso: str | None) -> float | None:
    """An ISO time (an end time) as epoch seconds (None stays None)."""
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def next_time(cron: CronRecord, after: float) -> int | None:
    """When `cron` fires next after `after`, or None past its end time."""
    at = next_fire(cron.schedule, cron.timezone, after)
    end = epoch(cron.end_time)
    return None if end is not None and at > end else at


class CronScheduler:
    """Claims and fires the due crons of one engine (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        runs: Callable[[], RunManager],
        *,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.runs = runs
        self.poll_s = poll_s
        self.clock = clock
        self.fired: deque[tuple[str, int, str]] = deque(maxlen=HISTORY)
        """The latest fires of this process: (cron id, scheduled time, run id)."""

    async def tick(self) -> int:
        """Fire every cron due now that this process claims; how many it fired."""
        now = self.clock()
        durable = self.engine.durable
        await durable.ensure_ready()
        fired = 0
        for cron in await durable.crons.due(int(now)):
            assert cron.next_run_at is not None  # due() answers only scheduled crons
            if not await durable.crons.claim(cron.cron_id, cron.next_run_at, next_time(cron, now)):
                continue  # another process fired this time
            end = epoch(cron.end_time)
            if end is not None and cron.next_run_at > end:
                continue
            try:
                run = await self.fire(cron)
            except (SophiaError, ValueError) as exc:
                logger.warning("cron %s did not start a run: %s", cron.cron_id, exc)
                continue
            self.fired.append((cron.cron_id, cron.next_run_at, run.record.run_id))
            fired += 1
        return fired

    async def fire(self, cron: CronRecord) -> Any:
        """Start the run `cron` asks for, as its owner; the run's execution."""
        owner = Caller(tenant=cron.owner, subject=cron.user_id)
        assistant = await assistant_settings(self.engine, cron.assistant_id, owner)
        payload = cron.payload
        thread_id = cron.thread_id
        if thread_id is None and cron.on_run_completed == "keep":
            durable = self.engine.durable
            made = await durable.threads.create(None, {"cron_id": cron.cron_id}, owner=cron.owner)
            thread_id = made.thread_id
        body = RunCreate(
            assistant_id=assistant.assistant_id,
            input=payload.get("input"),
            metadata={**cron.metadata, **(payload.get("metadata") or {})},
            multitask_strategy=payload.get("multitask_strategy") or "enqueue",
            stream_mode=payload.get("stream_mode"),
        )
        config = run_config(assistant.config, payload.get("config"))
        # The run belongs to the cron's owner, under its quotas like any run of theirs.
        run, _ = await self.runs().start(
            owner, assistant.graph, assistant.assistant_id, thread_id, body, config=config
        )
        logger.info("cron %s started run %s", cron.cron_id, run.record.run_id)
        return run

    async def run_forever(self) -> None:
        """Tick every `poll_s` seconds until cancelled. A failed tick is logged (once per
        distinct failure: a database that stays down does not flood the log)."""
        last_failure = ""
        while True:
            try:
                await self.tick()
                last_failure = ""
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                if failure != last_failure:
                    logger.warning("cron scheduler tick failed (retrying): %s", failure)
                last_failure = failure
            await asyncio.sleep(self.poll_s)


@contextlib.asynccontextmanager
async def scheduling(scheduler: CronScheduler) -> AsyncIterator[CronScheduler]:
    """Run `scheduler` in a task while the block runs; cancelled on exit."""
    task = asyncio.create_task(scheduler.run_forever(), name="cron-scheduler")
    try:
        yield scheduler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
