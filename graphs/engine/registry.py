"""The registry of graphs by name, each with its input schema and output shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from graphs.engine.errors import InvalidInputError, UnknownGraphError

if TYPE_CHECKING:
    from langgraph.graph import StateGraph
ResumeValidator = Callable[[Any, "str | None"], Any]
"""(the answer sent, who sent it) -> the value the graph receives; ValueError if invalid."""


@dataclass(frozen=True)
class GraphSpec:
    """A workflow the engine can run.

    `build` returns the uncompiled `StateGraph` (its context schema should be
    `nodes.context.Resources`); `input_model` validates the caller's input and
    `to_state` turns it into the graph's initial state; `shape_output` turns the final
    state into the result dict (the engine adds ``run_id``, ``trace_id`` and ``errors``).

    What callers may do to a paused or finished thread through a command
    (`graphs.engine.commands`): `server_owned` names the state keys only the graph's
    nodes may write (a command's ``update`` touching one is refused); `goto_targets` the
    nodes a command may jump to (none: ``goto`` is refused); `resume_validators` maps an
    interrupt's ``kind`` to the function that checks the answer to it, given the
    answering caller's identity, and returns the value the graph receives.
    """

    name: str
    description: str
    build: Callable[[], StateGraph[Any, Any, Any, Any]]
    input_model: type[BaseModel]
    to_state: Callable[[Any], dict[str, Any]] = field(default=lambda model: model.model_dump())
    shape_output: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda s: dict(s))
    server_owned: frozenset[str] = frozenset()
    goto_targets: frozenset[str] = frozenset()
    resume_validators: Mapping[str, ResumeValidator] = field(default_factory=dict)

    def validate(self, raw: Any) -> dict[str, Any]:
        """The initial state for `raw` input, or InvalidInputError naming each bad field."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise InvalidInputError(
                self.name, [f"input must be a JSON object, got {type(raw).__name__}"]
            )
        try:
            model = self.input_model.model_validate(raw)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in err['loc']) or '(input)'}: {err['msg']}"
                for err in exc.errors()
            ]
            raise InvalidInputError(self.name, problems) from exc
        return self.to_state(model)

    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the accepted input."""
        return self.input_model.model_json_schema()


class GraphRegistry:
    """Graphs by name. Registering a name twice is an error; lookups name what exists."""

    def __init__(self, specs: Iterable[GraphSpec] = ()) -> None:
        self._specs: dict[str, GraphSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: GraphSpec) -> GraphSpec:
        """Add `spec`; returns it so this can be used as a one-liner."""
        if spec.name in self._specs:
            raise ValueError(f"a graph named {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> GraphSpec:
        """The spec registered as `name`, or UnknownGraphError listing the known names."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownGraphError(name, self.names()) from None

    def names(self) -> list[str]:
        """Registered graph names, sorted."""
        return sorted(self._specs)

    def __iter__(self) -> Any:
        return iter(self._specs.values())
