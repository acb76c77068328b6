"""Errors about graphs and their inputs, raised by the registry and the Engine."""

from __future__ import annotations

from stores.errors import SophiaError


class GraphError(SophiaError):
    """Base class for errors about graphs and their inputs."""


class UnknownGraphError(GraphError, LookupError):
    """No graph is registered under the requested name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown graph {name!r}; registered graphs: {', '.join(known) or 'none'}")
        self.name = name
        self.known = known


class InvalidInputError(GraphError, ValueError):
    """The input does not match the graph's input schema."""

    def __init__(self, graph: str, problems: list[str]) -> None:
        super().__init__(f"invalid input for graph {graph!r}: " + "; ".join(problems))
        self.graph = graph
        self.problems = problems


class EngineNotOpenError(SophiaError):
    """The engine was used before ``async with engine:`` opened it (or after it closed)."""

    def __init__(self) -> None:
        super().__init__("the engine is not open: use `async with engine:`")
