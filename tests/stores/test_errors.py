"""Errors live beside what raises them, all derive from `SophiaError`, and the old
`stores.errors` names still reach them without importing the stores."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import stores.errors
from stores.errors import SophiaError

MODULES = [
    "stores.errors",
    "stores.warehouse.errors",
    "stores.cache.errors",
    "stores.memory.errors",
    "stores.resilience.errors",
]


@pytest.mark.parametrize("module", MODULES)
def test_every_error_derives_from_sophia_error(module: str) -> None:
    errors = [
        obj
        for _, obj in inspect.getmembers(importlib.import_module(module), inspect.isclass)
        if issubclass(obj, BaseException)
    ]
    assert errors
    assert all(issubclass(e, SophiaError) for e in errors), errors


def test_moved_errors_stay_importable_from_stores_errors() -> None:
    from stores.cache.errors import CacheError, RedisUnavailable
    from stores.errors import CircuitOpenError, QueryError
    from stores.errors import RedisUnavailable as Reexported
    from stores.resilience.errors import CircuitOpenError as Beside
    from stores.warehouse.errors import QueryError as QueryErrorBeside

    assert Reexported is RedisUnavailable and issubclass(RedisUnavailable, CacheError)
    assert CircuitOpenError is Beside and QueryError is QueryErrorBeside
    for name in stores.errors.__all__:
        assert isinstance(getattr(stores.errors, name), type), name
    with pytest.raises(AttributeError, match=r"module 'stores\.errors' has no attribute 'Nope'"):
        stores.errors.Nope  # noqa: B018


def test_importing_the_root_errors_imports_no_store() -> None:
    code = "import sys, stores.errors, stores; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert "stores.errors" in loaded
    heavy = ("stores.warehouse", "stores.cache", "stores.memory", "duckdb", "redis", "tenacity")
    assert [m for m in loaded if m.startswith(heavy)] == []
