"""The service's own error answer, written in one place: ``{"error": code, "message": ...}``.

Every route of the engine and the dashboard answers failures with this body (plus the
extra fields a code has: ``run_id``, ``known``, ``problems``), and a stream sends the
same body as its ``error`` event. Messages name the problem; they never carry a stack
trace, a file path or a Python repr. (The LangGraph API's routes answer LangGraph's own
``{"detail": ...}``: `graphs.server.langgraph_api.errors`.)
"""

from __future__ import annotations

import logging
from typing import Any

from graphs.engine.errors import GraphError, InvalidInputError, UnknownGraphError
from graphs.server.encoding import JSON
from graphs.server.limits import OverloadedError
from graphs.server.quotas import QuotaExceededError
from stores.errors import (
    CircuitOpenError,
    PoolTimeoutError,
    SophiaError,
    WarehouseUnavailableError,
)

logger = logging.getLogger(__name__)

_UNAVAILABLE = (CircuitOpenError, PoolTimeoutError, WarehouseUnavailableError)


class HttpError(SophiaError):
    """An error answer: HTTP `status`, machine-readable `code`, `message` and extra fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """``{"error": code, "message": ..., **extra}``: the response body and stream event."""
        return {"error": self.code, "message": self.message, **self.extra}

    def response(self) -> JSON:
        """The JSON response of this error."""
        return JSON(self.body(), status_code=self.status, headers=self.headers)


def graph_error(exc: GraphError) -> HttpError:
    """404 ``unknown_graph`` (naming the known ones), 422 ``invalid_input`` (each
    problem), else 400 ``bad_request``."""
    if isinstance(exc, UnknownGraphError):
        return HttpError(404, "unknown_graph", str(exc), known=exc.known)
    if isinstance(exc, InvalidInputError):
        return HttpError(422, "invalid_input", str(exc), problems=exc.problems)
    return HttpError(400, "bad_request", str(exc))


def overloaded(exc: OverloadedError) -> HttpError:
    """503 ``overloaded`` with Retry-After."""
    return HttpError(
        503, "overloaded", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
    )


def over_quota(exc: QuotaExceededError) -> HttpError:
    """429 ``quota_exceeded`` with Retry-After."""
    return HttpError(
        429, "quota_exceeded", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
    )


def run_timeout(run_id: str, timeout_s: float) -> HttpError:
    """504 ``timeout``: the run did not finish within the request timeout."""
    message = f"run {run_id} did not finish within {timeout_s:g}s"
    return HttpError(504, "timeout", message, run_id=run_id)


def run_failure(exc: BaseException, run_id: str, graph: str) -> HttpError:
    """A run that raised: 4xx for a graph error, 503 for an unavailable dependency (with
    Retry-After), else 500 ``internal`` naming the run (the log has the details)."""
    if isinstance(exc, GraphError):
        return graph_error(exc)
    if isinstance(exc, _UNAVAILABLE):
        retry = max(1, round(getattr(exc, "retry_after_s", 1)))
        logger.warning("run %s of %s: dependency unavailable: %s", run_id, graph, exc)
        return HttpError(
            503,
            "unavailable",
            f"a dependency is unavailable ({type(exc).__name__})",
            headers={"Retry-After": str(retry)},
            run_id=run_id,
        )
    logger.error("run %s of graph %s failed", run_id, graph, exc_info=exc)
    message = f"internal error in run {run_id}; the server log has details"
    return HttpError(500, "internal", message, run_id=run_id)


def internal() -> HttpError:
    """500 ``internal`` for a failure outside any run."""
    return HttpError(500, "internal", "internal error; the server log has details")
