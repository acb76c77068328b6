"""Errors raised by the resilience layer itself (breakers and guards)."""

from __future__ import annotations

from stores.errors import SophiaError


class CircuitOpenError(SophiaError):
    """A circuit breaker is open: the dependency is failing and calls fail fast."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(
            f"circuit breaker {name!r} is open; next trial call in {retry_after_s:.1f}s"
        )
        self.name = name
        self.retry_after_s = retry_after_s


class DependencyTimeoutError(SophiaError, TimeoutError):
    """A guarded call to a dependency did not finish within its per-attempt timeout."""

    def __init__(self, name: str, timeout_s: float) -> None:
        super().__init__(f"call to {name!r} timed out after {timeout_s:g}s")
        self.name = name
        self.timeout_s = timeout_s
