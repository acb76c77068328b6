"""`FieldIndex`: equality filters answered as a label mask before the HNSW walk.

The index keeps, per filtered field, the set of vector labels under each value, so that
``{"company_id": "c1"}`` becomes a mask over the labels instead of a Python callback on
every node the graph walk visits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stores.memory.filters import lookup

_EQ_TYPES = (str, int)  # bool is an int; floats (NaN) and None (matches missing) excluded


class FieldIndex:
    """Labels by ``field == value`` for the vectors' items: cheap equality filters.

    ``field`` is a filter key as `stores.memory.filters.lookup` reads it (dotted keys reach
    nested values). A field is indexed the first time a search filters on it (one pass over the live
    items) and then kept current by the writers. Only ``str``/``int``/``bool`` values
    are indexed; other filter values fall back to the per-label predicate. Callers hold
    the store's lock: writers exclusively; readers may build a field concurrently, which
    `build` serialises.
    """

    def __init__(self) -> None:
        self._fields: dict[str, dict[Any, set[int]]] = {}
        self._build_lock = threading.Lock()

    @staticmethod
    def usable(value: Any) -> bool:
        """Whether a filter value can be answered from the index."""
        return isinstance(value, _EQ_TYPES)

    def add(self, value: Mapping[str, Any], labels: Iterable[int]) -> None:
        """Record ``labels`` (one item's vectors) under the item's indexed field values."""
        for name, by_value in self._fields.items():
            v = lookup(value, name)
            if isinstance(v, _EQ_TYPES):
                by_value.setdefault(v, set()).update(labels)

    def remove(self, value: Mapping[str, Any], labels: Iterable[int]) -> None:
        """Forget ``labels`` recorded for ``value`` by `add`."""
        for name, by_value in self._fields.items():
            v = lookup(value, name)
            if isinstance(v, _EQ_TYPES) and v in by_value:
                by_value[v].difference_update(labels)
                if not by_value[v]:
                    del by_value[v]

    def labels(
        self,
        name: str,
        value: Any,
        items: Callable[[], Iterable[tuple[Mapping[str, Any], list[int]]]],
    ) -> set[int]:
        """Labels whose item has ``name == value``; builds the field from ``items()`` once."""
        by_value = self._fields.get(name)
        if by_value is None:
            with self._build_lock:
                by_value = self._fields.get(name)
                if by_value is None:
                    by_value = {}
                    for item_value, item_labels in items():
                        v = lookup(item_value, name)
                        if isinstance(v, _EQ_TYPES):
                            by_value.setdefault(v, set()).update(item_labels)
                    self._fields[name] = by_value
        return by_value.get(value, set())

    def clear(self) -> None:
        """Drop every field (after a load)."""
        self._fields = {}
