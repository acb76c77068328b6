"""Workflow definitions, the registry, and the Engine that runs them.

Public surface: `Engine`, `GraphRegistry`, `GraphSpec`, `default_registry`. They are
imported on first use, so that ``sophia --help`` (which lives in ``graphs.cli``) does not
pay for LangGraph's import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphs.engine.engine import Engine, default_registry
    from graphs.engine.registry import GraphRegistry, GraphSpec

_LAZY = {
    "Engine": "graphs.engine.engine",
    "default_registry": "graphs.engine.engine",
    "GraphRegistry": "graphs.engine.registry",
    "GraphSpec": "graphs.engine.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'graphs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["Engine", "GraphRegistry", "GraphSpec", "default_registry"]
