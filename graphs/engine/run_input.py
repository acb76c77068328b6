"""A run's input, validated once, and the LangGraph config every run is given.

The HTTP service, the LangGraph API and the CLI validate a caller's input with
`Engine.validate` (UnknownGraphError / InvalidInputError before anything runs) and hand
the `RunInput` to the engine, which does not validate it again. The rules that decide
whether a run may start (a run that pauses for a human needs a thread) and the
recursion limit live here, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

from graphs.engine.errors import InvalidInputError
from graphs.engine.registry import GraphSpec

RECURSION_LIMIT = 50
"""Supersteps a run may take before LangGraph stops it (the deal review takes 3)."""


@dataclass(frozen=True)
class RunInput:
    """The validated input of one run of `graph`: its initial state."""

    graph: str
    state: dict[str, Any]

    @property
    def pauses_for_approval(self) -> bool:
        """Whether the run may pause for a human (``require_approval``)."""
        return bool(self.state.get("require_approval"))


def validate_input(spec: GraphSpec, raw: Any, *, threaded: bool) -> RunInput:
    """`raw` checked against `spec`'s input model and the run rules, or InvalidInputError.

    A `RunInput` already made for `spec` is checked against the run rules only.
    """
    if isinstance(raw, RunInput):
        if raw.graph != spec.name:
            raise InvalidInputError(spec.name, [f"input: validated for graph {raw.graph!r}"])
        run_input = raw
    else:
        run_input = RunInput(spec.name, spec.validate(raw))
    if run_input.pauses_for_approval and not threaded:
        raise InvalidInputError(
            spec.name, ["require_approval: a run that pauses for approval needs a thread_id"]
        )
    return run_input


def run_config(
    run_id: str | None = None,
    thread_id: str | None = None,
    *,
    graph: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> RunnableConfig:
    """The LangGraph config of a run (on `thread_id`, if given).

    The run's id, graph and thread also go into ``metadata``, which LangGraph copies into
    every checkpoint the run writes (so checkpoints can be listed or deleted per run).
    `extra` (an assistant's or a caller's config, checked by the caller) may set
    ``tags``, ``recursion_limit`` and ``configurable`` keys; the thread id stays the
    engine's.
    """
    extra = extra or {}
    limit = extra.get("recursion_limit") or RECURSION_LIMIT
    config: RunnableConfig = {"recursion_limit": int(limit)}
    if extra.get("tags"):
        config["tags"] = list(extra["tags"])
    configurable = dict(extra.get("configurable") or {})
    metadata: dict[str, Any] = {}
    if thread_id is not None:
        configurable["thread_id"] = thread_id
        metadata["thread_id"] = thread_id
    if configurable:
        config["configurable"] = configurable
    if run_id is not None:
        config["run_id"] = uuid.UUID(run_id)
        metadata["run_id"] = run_id
    if graph is not None:
        metadata["graph_id"] = graph
    if metadata:
        config["metadata"] = metadata
    return config
