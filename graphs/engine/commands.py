"""Commands on a thread, checked before they run: LangGraph's ``Command(resume, update,
goto)`` as a remote caller may send it.

LangGraph applies a command as it is given: an ``update`` writes any value under any
key, ``goto`` jumps to any node. A caller could so skip an approval (``update:
{require_approval: false}, goto: "synthesis"``), forge a report, or store a wrongly typed
value that fails every later run of the thread. `check_command` refuses, with
`InvalidInputError` naming each problem:

- an ``update`` that is not an object, names a key the graph's state does not have, has
  a value of the wrong type for its key (checked by pydantic against the state schema),
  or writes a key the graph declares server-owned (`GraphSpec.server_owned`);
- a ``goto`` to, or a state update written ``as_node`` of, a node the graph does not
  list in `GraphSpec.goto_targets` (either way the graph goes on from that node);
- a ``resume`` answer that the check for the pending interrupt's ``kind``
  (`GraphSpec.resume_validators`) refuses; the value the graph receives is that check's
  result, which records who answered from the caller's identity, never from the body.

A ``resume`` with nothing pending is `NothingToResumeError`.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any

from langgraph.types import Command, Interrupt
from pydantic import TypeAdapter, ValidationError

from graphs.durable.errors import NothingToResumeError
from graphs.engine.errors import InvalidInputError
from graphs.engine.registry import GraphSpec


class StateSchema:
    """The typed keys of a graph's state, each checked by its own pydantic adapter."""

    def __init__(self, spec: GraphSpec, schema: type) -> None:
        self.spec = spec
        self.hints: dict[str, Any] = typing.get_type_hints(schema, include_extras=True)
        self._adapters: dict[str, TypeAdapter[Any]] = {}

    def _adapter(self, key: str) -> TypeAdapter[Any]:
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter = self._adapters[key] = TypeAdapter(self.hints[key])
        return adapter

    def check_update(self, update: Any, field: str = "command.update") -> dict[str, Any]:
        """`update` with each value as validated; InvalidInputError naming each problem
        (as `field`.key: a command's ``update``, or the values of a state update)."""
        if not isinstance(update, dict):
            raise InvalidInputError(self.spec.name, [f"{field}: must be an object"])
        problems: list[str] = []
        checked: dict[str, Any] = {}
        for key, value in update.items():
            if key not in self.hints:
                problems.append(f"{field}.{key}: not a key of {self.spec.name}'s state")
            elif key in self.spec.server_owned:
                problems.append(f"{field}.{key}: only {self.spec.name}'s own nodes may write it")
            else:
                try:
                    checked[key] = self._adapter(key).validate_python(value)
                except ValidationError as exc:
                    problems += [
                        f"{field}.{'.'.join(str(p) for p in (key, *err['loc']))}: {err['msg']}"
                        for err in exc.errors(include_input=False)
                    ]
        if problems:
            raise InvalidInputError(self.spec.name, problems)
        return checked

    def check_as_node(self, as_node: Any, field: str = "as_node") -> str | None:
        """`as_node` if a state update may be written as that node: like a ``goto``
        (`GraphSpec.goto_targets`), since the graph continues from it; None stays None."""
        if as_node is None:
            return None
        if not isinstance(as_node, str) or as_node not in self.spec.goto_targets:
            allowed = ", ".join(sorted(self.spec.goto_targets)) or "none"
            raise InvalidInputError(self.spec.name, [
                f"{field}: {self.spec.name} allows no update as node {str(as_node)[:100]!r}"
                f" (allowed: {allowed})"
            ])  # fmt: skip
        return as_node


def _goto(spec: GraphSpec, goto: Any) -> list[str]:
    targets = [goto] if isinstance(goto, str) else goto
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise InvalidInputError(spec.name, ["command.goto: must be a node name or a list"])
    refused = [t for t in targets if t not in spec.goto_targets]
    if refused:
        allowed = ", ".join(sorted(spec.goto_targets)) or "none"
        message = f"command.goto: {spec.name} allows no jump to {', '.join(refused)}"
        raise InvalidInputError(spec.name, [f"{message} (allowed: {allowed})"])
    return targets


def _resume(spec: GraphSpec, value: Any, pending: Sequence[Interrupt], subject: str | None) -> Any:
    if not pending:
        raise NothingToResumeError("command.resume: the thread is not waiting for an answer")
    checked = value
    for item in pending:
        kind = item.value.get("kind") if isinstance(item.value, dict) else None
        validator = spec.resume_validators.get(kind) if isinstance(kind, str) else None
        if validator is not None:
            try:
                checked = validator(value, subject)
            except ValueError as exc:
                raise InvalidInputError(spec.name, [f"command.resume: {exc}"]) from None
    return checked


def check_command(
    schema: StateSchema,
    *,
    resume: Any = None,
    update: Any = None,
    goto: Any = None,
    pending: Sequence[Interrupt] = (),
    subject: str | None = None,
) -> Command[Any]:
    """The command to run, checked (see the module docstring); `pending` are the
    interrupts the thread waits on, `subject` who is answering."""
    spec = schema.spec
    kwargs: dict[str, Any] = {}
    if goto not in (None, "", []):
        kwargs["goto"] = _goto(spec, goto)
    if update is not None:
        kwargs["update"] = schema.check_update(update)
    if resume is not None:
        kwargs["resume"] = _resume(spec, resume, pending, subject)
    if not kwargs:
        raise InvalidInputError(spec.name, ["command: give resume, update or goto"])
    return Command(**kwargs)
