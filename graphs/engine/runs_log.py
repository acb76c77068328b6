"""A bounded log of an engine's recent runs, for the dashboard's "recent runs" table.

Each `Engine` owns one `RunsLog` (``engine.runs_log``); every way of running a graph
records its finished run there through `graphs.engine.run_scope`. The log keeps at most
``max_runs`` records (oldest dropped first) plus totals per final status, and is safe to
use from several threads and tasks.
"""

from __future__ import annotations

import threading
from collections import deque

from graphs.engine.run_record import FINISHED, RunRecord

__all__ = ["RunsLog"]


class RunsLog:
    """The last ``max_runs`` finished runs, newest last, plus totals per status."""

    def __init__(self, max_runs: int = 200) -> None:
        if max_runs < 1:
            raise ValueError(f"max_runs must be >= 1, got {max_runs}")
        self.max_runs = max_runs
        self._runs: deque[RunRecord] = deque(maxlen=max_runs)
        self._totals: dict[str, int] = dict.fromkeys(sorted(FINISHED), 0)
        self._lock = threading.Lock()

    def add(self, record: RunRecord) -> None:
        """Append one finished run (ValueError if it has not finished)."""
        if not record.finished:
            raise ValueError(f"run {record.run_id} has not finished (status {record.status!r})")
        with self._lock:
            self._runs.append(record)
            self._totals[record.status] += 1

    def recent(self, limit: int = 50) -> list[RunRecord]:
        """The newest ``limit`` runs, newest first."""
        with self._lock:
            runs = list(self._runs)
        return runs[::-1][: max(0, limit)]

    def totals(self) -> dict[str, int]:
        """How many runs finished with each status since this log was made."""
        with self._lock:
            return dict(self._totals)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def clear(self) -> None:
        """Forget every run and reset the totals."""
        with self._lock:
            self._runs.clear()
            self._totals = dict.fromkeys(sorted(FINISHED), 0)
