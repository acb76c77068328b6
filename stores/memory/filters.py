"""Matching items and namespaces as LangGraph's store API documents it.

`matches(value, filter)` implements the ``filter`` of `BaseStore.search`:

- ``{"field": x}`` is equality; ``{"field": {"$eq": x}}`` too, and ``$ne``, ``$gt``,
  ``$gte``, ``$lt``, ``$lte`` compare (several operators in one condition must all hold);
- a dotted key reaches into nested values: ``{"author.name": "Ada"}`` matches
  ``{"author": {"name": "Ada"}}`` (a top-level key spelled with the dots wins);
- a dict condition without operators matches a nested dict field by field, a list
  condition a list element by element (as LangGraph's in-memory store does);
- a missing field is ``None``: it equals ``None`` and is ``$ne`` anything else, and no
  ordering holds for it. Ordering compares numbers with numbers and strings with
  strings (ISO dates order as text); other pairs never match, rather than raise.

An operator we do not know raises `MemoryStoreError` naming the ones we do (`check`
finds it before a search starts).
`namespace_matches` implements the prefix/suffix conditions (``*`` matches any one
label) of `BaseStore.list_namespaces`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from langgraph.store.base import MatchCondition

from stores.memory.errors import MemoryStoreError

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
OPERATORS = ("$eq", "$ne", *_ORDERING)
"""The comparison operators a filter condition may use."""

_MISSING: Any = object()


def lookup(value: Mapping[str, Any], key: str) -> Any:
    """The field ``key`` of ``value`` (a dotted key walks nested dicts); None if absent."""
    if key in value:
        return value[key]
    current: Any = value
    for part in key.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part, _MISSING)
        if current is _MISSING:
            return None
    return current


def check(flt: Mapping[str, Any] | None) -> None:
    """Raise `MemoryStoreError` if ``flt`` uses an operator we do not know (before a
    search starts, so the error never comes from inside the index's walk)."""
    for condition in (flt or {}).values():
        _check_condition(condition)


def _check_condition(condition: Any) -> None:
    if isinstance(condition, Mapping):
        if _is_operator_map(condition):
            for key in condition:
                if key not in OPERATORS:
                    raise _unsupported(key)
        else:
            for inner in condition.values():
                _check_condition(inner)
    elif isinstance(condition, list | tuple):
        for inner in condition:
            _check_condition(inner)


def matches(value: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    """Whether an item's ``value`` satisfies every condition of ``flt`` (None: no filter)."""
    return not flt or all(condition_holds(lookup(value, k), c) for k, c in flt.items())


def condition_holds(actual: Any, condition: Any) -> bool:
    """Whether a field's ``actual`` value satisfies one filter ``condition``."""
    if isinstance(condition, Mapping):
        if _is_operator_map(condition):
            return all(_apply(actual, op, operand) for op, operand in condition.items())
        return isinstance(actual, Mapping) and all(
            condition_holds(actual.get(k), c) for k, c in condition.items()
        )
    if isinstance(condition, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(condition)
            and all(condition_holds(a, c) for a, c in zip(actual, condition, strict=True))
        )
    return bool(actual == condition)


def _apply(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(actual == operand)
    if op == "$ne":
        return bool(actual != operand)
    compare = _ORDERING.get(op)
    if compare is None:
        raise _unsupported(op)
    if _is_number(actual) and _is_number(operand):
        return compare(actual, operand)
    if isinstance(actual, str) and isinstance(operand, str):
        return compare(actual, operand)
    return False


def _is_operator_map(condition: Mapping[Any, Any]) -> bool:
    return any(isinstance(k, str) and k.startswith("$") for k in condition)


def _unsupported(op: Any) -> MemoryStoreError:
    return MemoryStoreError(
        f"unsupported filter operator {op!r}; supported: {', '.join(OPERATORS)}"
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """Whether ``namespace`` starts (``prefix``) or ends (``suffix``) with the condition's
    path, where a ``*`` label matches any one label."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        labels = namespace[: len(path)]
    elif condition.match_type == "suffix":
        labels = namespace[len(namespace) - len(path) :]
    else:
        raise MemoryStoreError(
            f"unsupported namespace match type {condition.match_type!r}; use prefix or suffix"
        )
    return all(p == "*" or p == label for p, label in zip(path, labels, strict=True))
