"""Names a module exports but imports only on first use (a PEP 562 ``__getattr__``).

``import telemetry``, ``import stores`` and ``import graphs`` stay cheap: the SDK, the
warehouse, the cache and their libraries load when a name is first touched, not before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(module: str, sources: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module`` that imports ``name`` from ``sources[name]``.

    Any other name raises `AttributeError`, as a missing module attribute does.
    """

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(source), name)

    return __getattr__
