"""The cache's namespaces: an allow-list, each with its default TTL (DESIGN.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from stores.cache.errors import UnknownNamespaceError
from stores.errors import ConfigurationError

DEFAULT_TTLS: dict[str, float] = {
    "embeddings": 24 * 3600.0,
    "queries": 3600.0,
    "sessions": 30 * 60.0,
    "api": 5 * 60.0,
    "config": 3600.0,
}
"""Namespace -> default TTL in seconds (DESIGN.md)."""

_NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class Namespaces:
    """Known namespaces and their TTLs: `DEFAULT_TTLS`, plus or overridden by ``ttls``,
    plus those added by `register`. Any other namespace is refused."""

    def __init__(self, ttls: Mapping[str, float] | None = None) -> None:
        self._ttls: dict[str, float] = {}
        for name, ttl in {**DEFAULT_TTLS, **(ttls or {})}.items():
            self.register(name, ttl)

    def register(self, name: str, ttl_s: float) -> None:
        """Allow namespace ``name`` with default TTL ``ttl_s`` (re-registering updates it).

        `ConfigurationError` for a name outside ``[a-z0-9][a-z0-9_.-]{0,63}`` or a TTL <= 0.
        """
        if not _NAMESPACE_RE.match(name):
            raise ConfigurationError(
                f"bad cache namespace {name!r}: use 1-64 of a-z 0-9 _ . - (no ':')"
            )
        if ttl_s <= 0:
            raise ConfigurationError(f"TTL of cache namespace {name!r} must be > 0, got {ttl_s}")
        self._ttls[name] = float(ttl_s)

    def ttl(self, namespace: str, ttl: float | None = None) -> float:
        """``ttl`` if given, else the namespace's default; `UnknownNamespaceError` if unknown."""
        default = self._ttls.get(namespace)
        if default is None:
            raise UnknownNamespaceError(namespace, sorted(self._ttls))
        return default if ttl is None else float(ttl)

    def __contains__(self, namespace: object) -> bool:
        return namespace in self._ttls

    def as_dict(self) -> dict[str, float]:
        """Namespace -> default TTL in seconds."""
        return dict(self._ttls)
