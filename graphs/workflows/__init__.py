"""The workflows that ship with the engine: the deal review and memory recall."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphs.engine.registry import GraphRegistry


def default_registry() -> GraphRegistry:
    """The graphs that ship with the engine (their input models; graphs build on use)."""
    from graphs.engine.registry import GraphRegistry
    from graphs.workflows import deal_review, memory_recall

    return GraphRegistry([deal_review.SPEC, memory_recall.SPEC])
