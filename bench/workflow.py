"""The deal review's agents awaited one after another (old platform) vs the parallel graph.

Both sides run the same agent, analysis and synthesis functions on the same pooled
warehouse (the emulator at its default latencies: login 300 ms, query 40 ms, in its own
process as a remote warehouse is: see bench/emulator_process.py), with no cache, on the
same deals. The naive side awaits HubSpot, Gong, Slack and Linear in
turn, as the old `process_workflow` did; the engine side runs the compiled deal review
graph, where the four agents share one superstep and their loads coalesce.

    uv run python -m bench.workflow [--quick]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from bench.common import BenchRow, main
from bench.emulator_process import emulator_process
from graphs.workflows import deal_review
from nodes import analysis, sources, synthesis
from nodes.context import Resources
from stores.demo import data as demo_data
from stores.settings import Settings
from stores.warehouse.warehouse import Warehouse

SCALE = 0.1  # 500 deals, 2,000 calls: plenty for reviews of a handful of deals


async def sequential_review(resources: Resources, deal_ids: list[str]) -> dict[str, Any]:
    """The old platform's way: each agent awaited after the previous one."""
    runtime: Runtime[Resources] = Runtime(context=resources)
    state: dict[str, Any] = {"deal_ids": deal_ids, "errors": []}
    for agent in (
        sources.hubspot_agent,
        sources.gong_agent,
        sources.slack_agent,
        sources.linear_agent,
    ):
        state.update(await agent(state, runtime))  # type: ignore[arg-type]
    for step in (
        analysis.sales_analysis,
        analysis.communication_analysis,
        analysis.project_analysis,
        synthesis.synthesis,
    ):
        state.update(await step(state, runtime))  # type: ignore[arg-type]
    return state


async def run(quick: bool) -> list[BenchRow]:
    """p50 of whole reviews, sequential vs parallel, same deals, same warehouse."""
    rounds = 3 if quick else 10
    deals_per_review = 5
    sizes = demo_data.DemoSizes().scaled(SCALE)
    rng = random.Random(7)
    reviews = [
        [f"D-{rng.randint(1, sizes.deals):05d}" for _ in range(deals_per_review)]
        for _ in range(rounds)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), node_timeout_s=60)
        async with emulator_process(SCALE) as url:
            async with Warehouse.open(url, min_size=8, max_size=8) as wh:
                resources = Resources(warehouse=wh, settings=settings)
                graph = deal_review.build_graph().compile()
                await sequential_review(resources, reviews[0])  # warm both paths once
                await graph.ainvoke({"deal_ids": reviews[0]}, context=resources)
                naive_ms: list[float] = []
                engine_ms: list[float] = []
                for ids in reviews:
                    started = time.perf_counter()
                    naive = await sequential_review(resources, ids)
                    naive_ms.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    parallel = await graph.ainvoke({"deal_ids": ids}, context=resources)
                    engine_ms.append((time.perf_counter() - started) * 1000)
                    if naive["report"].keys() != parallel["report"].keys():
                        raise AssertionError("the two ways reviewed different deals")
    naive_p50, engine_p50 = statistics.median(naive_ms), statistics.median(engine_ms)
    ratio = naive_p50 / engine_p50
    return [
        BenchRow(
            f"deal review of {deals_per_review} deals, p50",
            naive_p50,
            engine_p50,
            "ms",
            "engine <= 200 ms",
            engine_p50 <= 200,
        ),
        BenchRow(
            "speed-up of the parallel graph",
            float("nan"),
            ratio,
            "x",
            ">= 3x (600 -> 200 ms)",
            ratio >= 3,
        ),
    ]


if __name__ == "__main__":
    main(run, "workflow: sequential agents vs the parallel graph")
