"""Workflow definitions, the registry, and the Engine that runs them.

Public surface: `Engine`, `GraphRegistry`, `GraphSpec`, `default_registry`.
"""

from graphs.engine import Engine, default_registry
from graphs.registry import GraphRegistry, GraphSpec

__all__ = ["Engine", "GraphRegistry", "GraphSpec", "default_registry"]
