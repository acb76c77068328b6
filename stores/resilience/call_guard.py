"""`CallGuard`: what a store accepts as ``guard=`` (see docs/architecture.md, Resilience).

Kept apart from `stores.resilience.guards` (its implementation, `Guard`) so that a store
can name the protocol without importing tenacity, OpenTelemetry or LangGraph.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CallGuard(Protocol):
    """Runs an async callable under resilience policies (breaker, retry, timeout).

    ``name`` names the dependency (``"warehouse"``, ``"redis"``, ``"llm:<model>"``).
    Errors the callable raises reach the caller as themselves once the guard gives up;
    an open breaker raises `stores.resilience.errors.CircuitOpenError` without calling it.
    """

    name: str

    async def run(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` under the guard's policies."""
        ...
