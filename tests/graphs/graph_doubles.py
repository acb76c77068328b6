"""What the graph tests share: the real deal review with one agent slowed down, and the
invalid deal-review inputs with the field each error must name."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from langgraph.runtime import Runtime

from graphs import GraphRegistry
from graphs.workflows import deal_review
from nodes.context import Resources


def slow_registry(delay_s: float) -> GraphRegistry:
    """deal_review whose HubSpot agent waits `delay_s` first (the rest are real)."""

    async def slow_hubspot(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        await asyncio.sleep(delay_s)
        return await deal_review.AGENTS["hubspot"](state, runtime)

    spec = dataclasses.replace(
        deal_review.SPEC,
        build=lambda: deal_review.build_graph(
            {"hubspot": slow_hubspot}, timeouts={"hubspot": 60.0}
        ),
    )
    return GraphRegistry([spec])


INVALID_INPUTS: list[tuple[Any, str]] = [
    ({"deal_ids": "D-00001"}, "deal_ids"),
    ({"deal_ids": []}, "deal_ids"),
    ({"deal_ids": [""]}, "deal_ids"),
    ({"deals": ["D-00001"]}, "deals"),
    ([1, 2], "JSON object"),
]
"""Deal-review inputs that must be refused, and what the error must name."""
