"""Node functions of the workflows: source agents, analyses, synthesis, memory recall.

Nodes take ``(state, runtime)`` and read the engine's shared resources from
``runtime.context`` (`Resources`). Wrap a node with `isolated` to turn its failure or
timeout into an error entry in the state. Both names are imported on first use, so
importing one light module of the package (``nodes.selection``) costs no LangGraph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from nodes.context import Resources
    from nodes.isolation import isolated

_LAZY = {"Resources": "nodes.context", "isolated": "nodes.isolation"}

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["Resources", "isolated"]
