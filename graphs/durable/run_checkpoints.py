"""Deleting the checkpoints some runs wrote (a rolled-back run leaves no trace).

Every checkpoint a run writes names the run in its metadata (``run_id``, see
`graphs.engine.run_input.run_config`). The checkpointer's own ``adelete_for_runs`` does
the work when it has one (`graphs.durable.sqlite_saver.ThreadedSqliteSaver`); for
`langgraph-checkpoint-postgres`, which does not implement it, the same two statements run
on its tables (``checkpoint_writes`` first, then ``checkpoints``; the channel blobs stay,
as other checkpoints may share them).
"""

from __future__ import annotations

from collections.abc import Sequence

from graphs.durable.errors import CheckpointStoreError
from graphs.durable.sql import Statement
from graphs.durable.store import Durable

_PG_DOOMED = "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints WHERE metadata->>'run_id' IN ({marks})"  # noqa: E501


async def delete_for_runs(durable: Durable, run_ids: Sequence[str]) -> None:
    """Delete the checkpoints (and their pending writes) the runs `run_ids` wrote.
    CheckpointStoreError when the store has no way to do it."""
    wanted = sorted({str(r) for r in run_ids})
    if not wanted:
        return
    try:
        await durable.checkpointer.adelete_for_runs(wanted)
        return
    except NotImplementedError:
        if durable.backend != "postgres":
            raise CheckpointStoreError(
                f"the {durable.backend} checkpoint store cannot delete a run's checkpoints"
            ) from None
    marks = ", ".join("?" * len(wanted))
    doomed = _PG_DOOMED.format(marks=marks)
    statements: list[Statement] = [
        (f"DELETE FROM checkpoint_writes WHERE (thread_id, checkpoint_ns, checkpoint_id)"  # noqa: S608
         f" IN ({doomed})", tuple(wanted)),
        (f"DELETE FROM checkpoints WHERE metadata->>'run_id' IN ({marks})",  # noqa: S608
         tuple(wanted)),
    ]  # fmt: skip
    await durable.sql.transaction(statements)
