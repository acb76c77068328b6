"""Error classification and retries with tenacity.

Which errors are transient (worth a retry: `is_transient`), which say a dependency is
unhealthy (count against a circuit breaker: `default_is_failure`), and the jittered
backoff policy.

`is_transient` is the one retry predicate of the engine: guards use it through
`async_retrying`. An open circuit breaker is never retried: the breaker already knows the
answer. A guard marks the error it gives up with (`mark_guarded`); node-level retries
(`retry_at_node`, `langgraph_retry_policy`) take only transient errors no guard has had,
so a statement runs at most as often as its guard allows (`stores.resilience.budget`).
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from langgraph.types import RetryPolicy
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from stores.errors import ConfigurationError
from stores.resilience.errors import CircuitOpenError
from stores.warehouse.errors import (
    PoolTimeoutError,
    QueryError,
    QueryTimeoutError,
    UnknownIdentifierError,
    WarehouseUnavailableError,
)

# OSError errnos that mean "the network or the peer is (maybe briefly) unreachable".
_NETWORK_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNREFUSED",
        "ECONNRESET",
        "ECONNABORTED",
        "EPIPE",
        "ETIMEDOUT",
        "ENETDOWN",
        "ENETUNREACH",
        "ENETRESET",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "EAGAIN",
        "ENOBUFS",
    )
    if hasattr(errno, name)
)

# Snowflake connector errnos its own network layer treats as retryable (errorcode.py):
# failed to connect, connection closed, request failed, connection timeout, retryable.
_SNOWFLAKE_RETRYABLE_ERRNOS = frozenset({250001, 250002, 250003, 251011, 251012})
# The connector reports HTTP failures as ER_HTTP_GENERAL_ERROR (290000) + status code.
# Of network.is_retryable_http_code we keep 408, 429 and 5xx: the connector retries
# 400/403/405 internally for its own protocol reasons, so when one reaches us it is final.
_SNOWFLAKE_HTTP_BASE = 290000

# The client libraries are looked up, not imported: an exception of a module that was never
# imported cannot have been raised, and importing the connector costs about a second.


def caused_by_open_breaker(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised because of, a `CircuitOpenError` (``__cause__`` chain).

    Stores let `CircuitOpenError` through as itself, but a wrapper further up may chain
    it as a cause; the open breaker must still be recognised.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, CircuitOpenError):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


_GUARDED_BY = "sophia_guarded_by"


def mark_guarded(exc: BaseException, guard: str) -> None:
    """Note on ``exc`` that it left guard ``guard``, whose retry policy has had its say."""
    try:
        setattr(exc, _GUARDED_BY, guard)
    except (AttributeError, TypeError):  # an exception type that takes no attributes
        pass


def guarded_by(exc: BaseException) -> str | None:
    """The guard ``exc`` (or an error it was raised from: ``__cause__``) left, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        guard = getattr(current, _GUARDED_BY, None)
        if isinstance(guard, str):
            return guard
        seen.add(id(current))
        current = current.__cause__
    return None


def retry_at_node(exc: BaseException) -> bool:
    """Whether a node that raised ``exc`` may run again: a transient error that no guard
    has already retried (a warehouse statement is retried by its guard, and only there)."""
    return is_transient(exc) and guarded_by(exc) is None


def default_is_failure(exc: BaseException) -> bool:
    """Whether an exception says the dependency is unhealthy (counts against the breaker).

    Errors that are the caller's fault (a rejected statement, an unknown identifier, bad
    arguments) prove the dependency answered, so they are not failures; neither is an
    open breaker further down, so one outage does not trip every breaker above it.
    Everything else (connection errors, timeouts, server errors) is a failure, including
    `QueryTimeoutError`: a statement that does not finish says the warehouse is slow.
    """
    if isinstance(exc, QueryTimeoutError):
        return True
    caller_errors: tuple[type[BaseException], ...] = (
        QueryError,
        UnknownIdentifierError,
        CircuitOpenError,
        ValueError,
        TypeError,
        LookupError,
    )
    if isinstance(exc, caller_errors) or caused_by_open_breaker(exc):
        return False
    # An exception of a module never imported cannot be raised: look it up, don't import it.
    sf_errors = sys.modules.get("snowflake.connector.errors")
    if sf_errors is None:
        return True
    sql_errors = (
        sf_errors.ProgrammingError,
        sf_errors.DataError,
        sf_errors.IntegrityError,
        sf_errors.NotSupportedError,
    )
    return not isinstance(exc, sql_errors)


def _is_transient_snowflake(exc: BaseException) -> bool | None:
    sf = sys.modules.get("snowflake.connector.errors")
    if sf is None:
        return None
    if not isinstance(exc, sf.Error):
        return None
    if isinstance(exc, sf.NonRetryableTlsError):
        return False
    http_retryable = (
        sf.OperationalError,
        sf.InternalServerError,
        sf.ServiceUnavailableError,
        sf.GatewayTimeoutError,
        sf.BadGatewayError,
        sf.TooManyRequests,
        sf.RequestTimeoutError,
        sf.OtherHTTPRetryableError,
    )
    if isinstance(exc, http_retryable):
        return True
    code = exc.errno
    if code in _SNOWFLAKE_RETRYABLE_ERRNOS:
        return True
    status = code - _SNOWFLAKE_HTTP_BASE
    return status in (408, 429) or 500 <= status < 600


def _is_transient_redis(exc: BaseException) -> bool | None:
    rx = sys.modules.get("redis.exceptions")
    if rx is None:
        return None
    if not isinstance(exc, rx.RedisError):
        return None
    if isinstance(exc, rx.AuthenticationError | rx.AuthorizationError):
        return False
    return isinstance(
        exc, rx.ConnectionError | rx.TimeoutError | rx.TryAgainError | rx.ClusterDownError
    )


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the call that raised ``exc`` may succeed.

    True for timeouts, connection errors (reset, refused, aborted), OSErrors with a network
    errno, temporary DNS failures, Redis connection/timeout errors (not authentication),
    Snowflake `OperationalError` and the connector's retryable errnos and HTTP statuses
    (408, 429, 5xx), and our `WarehouseUnavailableError`, `PoolTimeoutError` and
    `QueryTimeoutError` (a retry runs on another pooled connection). False for
    `CircuitOpenError` (never retried, even when wrapped: any error caused by one),
    `QueryError`, `UnknownIdentifierError`, programming errors (ValueError, TypeError, ...)
    and anything else.
    """
    if isinstance(exc, QueryTimeoutError):
        return True  # a QueryError, but about time, not the statement
    if isinstance(exc, QueryError | UnknownIdentifierError) or caused_by_open_breaker(exc):
        return False
    if isinstance(exc, WarehouseUnavailableError | PoolTimeoutError):
        return True
    for classify in (_is_transient_redis, _is_transient_snowflake):
        verdict = classify(exc)
        if verdict is not None:
            return verdict
    if isinstance(exc, TimeoutError | ConnectionError):  # asyncio.TimeoutError is TimeoutError
        return True
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN
    if isinstance(exc, OSError):
        return exc.errno in _NETWORK_ERRNOS
    return False


@dataclass(frozen=True)
class RetrySettings:
    """How a call is retried: at most ``attempts`` tries (the first included), waits growing
    from ``initial_s`` to at most ``max_s`` (full jitter when ``jitter``), and no new attempt
    whose wait would end after ``total_s`` since the first attempt started."""

    attempts: int = 3
    initial_s: float = 0.05
    max_s: float = 1.0
    total_s: float = 5.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError("RetrySettings.attempts must be >= 1")
        if self.initial_s <= 0 or self.max_s < self.initial_s or self.total_s <= 0:
            raise ConfigurationError("RetrySettings needs 0 < initial_s <= max_s and total_s > 0")


def _wait(settings: RetrySettings) -> wait_base:
    if settings.jitter:
        return wait_random_exponential(multiplier=settings.initial_s, max=settings.max_s)
    return wait_exponential(multiplier=settings.initial_s, max=settings.max_s)


def async_retrying(
    settings: RetrySettings,
    *,
    retry_on: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> AsyncRetrying:
    """A tenacity `AsyncRetrying` for ``settings`` that re-raises the last error.

    ``async for attempt in async_retrying(s): with attempt: ...`` or
    ``await async_retrying(s)(fn, *args)``. ``sleep`` replaces `asyncio.sleep` (tests).
    """
    kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    return AsyncRetrying(
        stop=stop_after_attempt(settings.attempts) | stop_before_delay(settings.total_s),
        wait=_wait(settings),
        retry=retry_if_exception(retry_on),
        reraise=True,
        **kwargs,
    )


def langgraph_retry_policy(settings: RetrySettings | None = None) -> RetryPolicy:
    """A LangGraph node `RetryPolicy` with these attempts and backoff, retrying what
    `retry_at_node` allows (never an error a guard has already retried).

    LangGraph has no total-time bound; a node's own timeout bounds it instead.
    """
    s = settings or RetrySettings()

    def retry_on(exc: Exception) -> bool:
        return retry_at_node(exc)

    return RetryPolicy(
        initial_interval=s.initial_s,
        backoff_factor=2.0,
        max_interval=s.max_s,
        max_attempts=s.attempts,
        jitter=s.jitter,
        retry_on=retry_on,
    )
