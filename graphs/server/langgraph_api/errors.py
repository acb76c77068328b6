"""The LangGraph API's error answer, written in one place: LangGraph's ``{"detail": ...}``.

`ApiError` is an answer with its status; `api_error` maps the engine's own errors to the
statuses the SDK expects: 404 unknown assistant, thread or run; 409 a thread that exists
already or is busy; 422 a bad body or graph input; 429 over a quota and 503 overloaded
(both with Retry-After); 503 the checkpoint store is down (its own message never reaches
the caller: it may name a file or a host).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field, ValidationError

from graphs.durable.errors import (
    CheckpointStoreError,
    ThreadBusyError,
    ThreadExistsError,
    UnknownThreadError,
)
from graphs.engine.errors import GraphError, InvalidInputError, UnknownGraphError
from graphs.server.body import BodyError
from graphs.server.encoding import JSON
from graphs.server.limits import OverloadedError
from graphs.server.quotas import QuotaExceededError
from stores.errors import SophiaError

__all__ = ["ApiError", "Detail", "api_error", "invalid_body"]

logger = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[SophiaError], int], ...] = (
    (UnknownThreadError, 404),
    (UnknownGraphError, 404),
    (ThreadBusyError, 409),
    (ThreadExistsError, 409),
    (InvalidInputError, 422),
    (GraphError, 422),
)


class Detail(BaseModel):
    """Every error answer of the LangGraph API's routes."""

    detail: str = Field(description="What went wrong.")


class ApiError(SophiaError):
    """An error answer of the LangGraph API: HTTP `status` and `detail`."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers

    def response(self) -> JSON:
        """``{"detail": ...}`` with the status."""
        return JSON({"detail": self.detail}, status_code=self.status, headers=self.headers)


def api_error(exc: Exception) -> ApiError | None:
    """`exc` as the answer the SDK expects, or None when it is not one of ours to answer."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, BodyError):
        # LangGraph's server answers a body it cannot read with 422; size, type and time
        # keep their own statuses.
        return ApiError(422 if exc.status == 400 else exc.status, exc.message)
    if isinstance(exc, QuotaExceededError | OverloadedError):
        status = 429 if isinstance(exc, QuotaExceededError) else 503
        return ApiError(status, str(exc), {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, CheckpointStoreError):
        logger.warning("checkpoint store failure: %s", exc)
        return ApiError(503, "the checkpoint store is unavailable; retry shortly",
                        {"Retry-After": "1"})  # fmt: skip
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return ApiError(status, str(exc))
    return None


def invalid_body(exc: ValidationError) -> ApiError:
    """422 naming each bad field of a request body (never the values sent)."""
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
        for err in exc.errors()
    ]
    return ApiError(422, "invalid request body: " + "; ".join(problems))
