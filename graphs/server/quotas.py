"""Per-caller quotas: runs at once and runs started per minute (HTTP 429 with Retry-After).

A caller's limits are its key's own (``sophia keys create --max-concurrent N --per-minute
N``), else the server's defaults (``SOPHIA_KEY_MAX_CONCURRENT_RUNS``,
``SOPHIA_KEY_RUNS_PER_MINUTE``); a service running open has no quotas. The counts live in
the process: under ``sophia serve --workers N`` each worker counts its own, so a key may
get up to N times its limits (a shared counter would cost a round trip per run).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from graphs.server.caller import Caller
from stores.errors import SophiaError

WINDOW_S = 60.0


class QuotaExceededError(SophiaError):
    """The caller is over one of its quotas; it may retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Usage:
    active: int = 0
    starts: deque[float] = field(default_factory=deque)


class Quotas:
    """Counts each caller's runs in progress and the runs it started in the last minute."""

    def __init__(
        self,
        max_concurrent_runs: int | None = None,
        runs_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_concurrent = max_concurrent_runs
        self.default_per_minute = runs_per_minute
        self._clock = clock
        self._usage: dict[str, _Usage] = {}
        self.refused = 0

    def admit(self, caller: Caller) -> Callable[[], None]:
        """Count one more run of `caller`; the function that ends it (call it once).

        QuotaExceededError (nothing counted) when the caller is at its concurrency limit
        or has started its per-minute number of runs in the last 60 s.
        """
        key = caller.quota_key
        concurrent = caller.max_concurrent_runs or self.default_concurrent
        per_minute = caller.runs_per_minute or self.default_per_minute
        if key is None or (concurrent is None and per_minute is None):
            return _nothing
        now = self._clock()
        usage = self._usage.setdefault(key, _Usage())
        while usage.starts and usage.starts[0] <= now - WINDOW_S:
            usage.starts.popleft()
        if concurrent is not None and usage.active >= concurrent:
            self.refused += 1
            raise QuotaExceededError(
                f"quota: this key has {usage.active} runs in progress, its limit", 1
            )
        if per_minute is not None and len(usage.starts) >= per_minute:
            self.refused += 1
            wait = math.ceil(usage.starts[0] + WINDOW_S - now)
            raise QuotaExceededError(
                f"quota: this key started {per_minute} runs in the last minute, its limit",
                max(1, wait),
            )
        usage.active += 1
        if per_minute is not None:
            usage.starts.append(now)
        done = False

        def release() -> None:
            nonlocal done
            if done:
                return
            done = True
            usage.active -= 1
            if usage.active == 0 and not usage.starts:
                self._usage.pop(key, None)

        return release

    def stats(self) -> dict[str, int]:
        """Callers with runs counted now, and how many runs the quotas refused."""
        return {"callers": len(self._usage), "refused": self.refused}


def _nothing() -> None:
    return None
