"""The rows of the `workers` bench (`bench.workers`): what each configuration gave, as
`BenchRow`s. The naive column holds the reference: in-process for a queued configuration,
`langgraph dev` for in-process (none for `langgraph dev` itself).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bench.common import BenchRow
from bench.worker_usage import Used

LIGHT_TARGET_MS = 100.0
"""The queue may add at most this much per run at light load."""


@dataclass
class Load:
    """What a load gave (`drive`): each run's enqueue -> complete (ms, from its record),
    runs/s, errors, early joins, the run ids, and each run's create call -> join answer
    (ms, as the client saw it; by run id)."""

    latencies: list[float] = field(default_factory=list)
    runs_per_s: float = math.nan
    errors: int = 0
    early_joins: int = 0
    run_ids: list[str] = field(default_factory=list)
    client_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class Measured:
    """What one configuration gave: its load, what the load used, the light load, and
    (sophia only) each light-load run's wait before it started and its time outside its
    execution (`bench.workers.overheads_ms`)."""

    load: Load = field(default_factory=Load)
    used: Used | None = None
    light: Load | None = None
    light_waits: list[float] = field(default_factory=list)
    light_outside: list[float] = field(default_factory=list)


def pct(values: Iterable[float], q: int) -> float:
    """The `q`-th percentile of `values` (NaN when there are none)."""
    got = list(values)
    if len(got) < 2:
        return got[0] if got else math.nan
    return statistics.quantiles(got, n=100, method="inclusive")[q - 1]


def _usage_rows(label: str, n: int, used: Used) -> list[BenchRow]:
    cpu = {g: s * 1000 / n for g, s in used.cpu_s.items() if s > 0.0005 * n}
    ours = sum(cpu.values())
    cpu["other processes"] = max(0.0, used.machine_busy_s * 1000 / n - ours)
    parts = ", ".join(f"{g} {ms:.0f}" for g, ms in sorted(cpu.items(), key=lambda kv: -kv[1]))
    rows = [BenchRow(f"{label}: CPU ms per run ({parts}; machine {used.machine_busy_pct:.0f}% "
                     f"busy); warehouse statements per run {used.statements / n:.1f}",
                     math.nan, ours, "ms", target="info")]  # fmt: skip
    if used.rows:
        per = {g: c / n for g, c in used.rows.items() if c}
        text = ", ".join(f"{g} {c:.1f}" for g, c in sorted(per.items(), key=lambda kv: -kv[1]))
        rows.append(BenchRow(
            f"{label}: Postgres rows written per run ({text}); Redis commands per run "
            f"{used.redis_commands / n:.0f}; peak Postgres connections {used.pg_connections}",
            math.nan, sum(per.values()), "rows", target="info"))  # fmt: skip
    return rows


def rows_of(results: dict[str, Measured], n: int) -> list[BenchRow]:
    """Every configuration's rows (`n` runs under load each; ``in-process`` must be among
    `results`), then the light load's."""
    base = results["in-process"]
    other = results.get("langgraph dev")
    rows: list[BenchRow] = []
    for label, got in results.items():
        # the naive column: in-process for a queued side, langgraph dev for in-process
        ref = {"in-process": other, "langgraph dev": None}.get(label, base)

        def of(pick: Callable[[Load], float], ref: Measured | None = ref) -> float:
            return pick(ref.load) if ref is not None else math.nan

        load = got.load
        rows += [
            BenchRow(f"{label}: {n} background reviews, runs/s", of(lambda m: m.runs_per_s),
                     load.runs_per_s, "runs/s", target="higher is better"),
            BenchRow(f"{label}: enqueue -> complete p50", of(lambda m: pct(m.latencies, 50)),
                     pct(load.latencies, 50), "ms"),
            BenchRow(f"{label}: enqueue -> complete p95", of(lambda m: pct(m.latencies, 95)),
                     pct(load.latencies, 95), "ms"),
            BenchRow(f"{label}: runs failed", of(lambda m: float(m.errors)), float(load.errors),
                     "runs", target="0", met=load.errors == 0),
            BenchRow(f"{label}: joins answered before their run ended",
                     of(lambda m: float(m.early_joins)), float(load.early_joins), "runs",
                     target="0", met=load.early_joins == 0),
        ]  # fmt: skip
        if got.used is not None:
            rows += _usage_rows(label, n, got.used)
    return rows + _light_rows(base, results.get("1 worker"), other)


def _light_rows(base: Measured, queued: Measured | None, other: Measured | None) -> list[BenchRow]:
    """The light load: in-process against 1 worker, and langgraph dev against in-process."""
    if base.light is None:
        return []
    k, rows = len(base.light.latencies), []
    if queued is not None and queued.light is not None:
        added = pct(queued.light_outside, 50) - pct(base.light_outside, 50)
        rows += [
            BenchRow(f"light load ({k} runs one at a time), in-process vs 1 worker: create call "
                     "-> join answered p50", pct(base.light.client_ms.values(), 50),
                     pct(queued.light.client_ms.values(), 50), "ms"),
            BenchRow("light load, in-process vs 1 worker: wait before the run starts p50",
                     pct(base.light_waits, 50), pct(queued.light_waits, 50), "ms"),
            BenchRow("light load, in-process vs 1 worker: all but the execution p50 (create -> "
                     "join answered, minus the run's duration)", pct(base.light_outside, 50),
                     pct(queued.light_outside, 50), "ms"),
            BenchRow("queue's added latency per run at light load (the row above: 1 worker "
                     "minus in-process)", math.nan, added, "ms",
                     target=f"< {LIGHT_TARGET_MS:.0f} ms", met=added < LIGHT_TARGET_MS),
        ]  # fmt: skip
    if other is not None and other.light is not None:
        rows += [
            BenchRow("light load, langgraph dev vs in-process: create call -> join answered p50",
                     pct(other.light.client_ms.values(), 50),
                     pct(base.light.client_ms.values(), 50), "ms"),
            BenchRow("light load, langgraph dev vs in-process: enqueue -> complete p50 (run "
                     "record)", pct(other.light.latencies, 50), pct(base.light.latencies, 50),
                     "ms"),
        ]  # fmt: skip
    return rows
