"""Workflow definitions, the registry, and the Engine that runs them.

Public surface: `Engine`, `GraphRegistry`, `GraphSpec`, `default_registry`. They are
imported on first use, so that ``sophia --help`` (which lives in ``graphs.cli``) does not
pay for LangGraph's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from graphs.engine.engine import Engine
    from graphs.engine.registry import GraphRegistry, GraphSpec
    from graphs.workflows import default_registry

_LAZY = {
    "Engine": "graphs.engine.engine",
    "default_registry": "graphs.workflows",
    "GraphRegistry": "graphs.engine.registry",
    "GraphSpec": "graphs.engine.registry",
}

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["Engine", "GraphRegistry", "GraphSpec", "default_registry"]
