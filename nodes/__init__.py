"""Node functions of the workflows: source agents, analyses, synthesis, memory recall.

Nodes take ``(state, runtime)`` and read the engine's shared resources from
``runtime.context`` (`Resources`). Wrap a node with `isolated` to turn its failure or
timeout into an error entry in the state.
"""

from nodes.context import Resources
from nodes.isolation import isolated

__all__ = ["Resources", "isolated"]
