"""The retry predicate and the tenacity/LangGraph retry policies built from it."""

from __future__ import annotations

import errno
import socket
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from redis import exceptions as redis_errors
from snowflake.connector import errors as sf_errors
from snowflake.connector.network import get_http_retryable_error

from stores.resilience.errors import CircuitOpenError, DependencyTimeoutError
from stores.resilience.retry import (
    RetrySettings,
    async_retrying,
    default_is_failure,
    is_transient,
    langgraph_retry_policy,
)
from stores.warehouse.errors import (
    PoolTimeoutError,
    QueryError,
    QueryTimeoutError,
    UnknownIdentifierError,
    WarehouseUnavailableError,
)

TRANSIENT: list[BaseException] = [
    ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    BrokenPipeError(errno.EPIPE, "broken pipe"),
    TimeoutError("read timed out"),
    TimeoutError(),
    OSError(errno.ENETUNREACH, "network is unreachable"),
    OSError(errno.EHOSTUNREACH, "no route to host"),
    socket.gaierror(socket.EAI_AGAIN, "temporary failure in name resolution"),
    redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379"),
    redis_errors.TimeoutError("Timeout reading from socket"),
    redis_errors.BusyLoadingError("loading the dataset in memory"),
    sf_errors.OperationalError(msg="250001: could not connect", errno=250001),
    sf_errors.InterfaceError(msg="connection is closed", errno=250002),
    sf_errors.DatabaseError(msg="retryable", errno=251012),
    get_http_retryable_error(503),
    get_http_retryable_error(429),
    get_http_retryable_error(502),
    WarehouseUnavailableError("emulator refused the connection"),
    PoolTimeoutError("no connection within 10s"),
    DependencyTimeoutError("warehouse", 30.0),
    QueryTimeoutError("snowflake statement did not finish within 30s"),
]

NOT_TRANSIENT: list[BaseException] = [
    CircuitOpenError("warehouse", 4.0),
    QueryError("syntax error"),
    UnknownIdentifierError("no table 'dealz'"),
    ValueError("bad argument"),
    TypeError("wrong type"),
    KeyError("missing"),
    RuntimeError("bug"),
    OSError(errno.ENOENT, "no such file"),
    PermissionError(errno.EACCES, "denied"),
    socket.gaierror(socket.EAI_NONAME, "name or service not known"),
    redis_errors.AuthenticationError("invalid password"),
    redis_errors.ResponseError("WRONGTYPE"),
    sf_errors.ProgrammingError(msg="SQL compilation error", errno=1003),
    sf_errors.NonRetryableTlsError(msg="certificate verify failed", errno=250001),
    get_http_retryable_error(403),  # the connector already retried it; final for us
]


def _wrapped_open_breaker() -> BaseException:
    try:
        try:
            raise CircuitOpenError("warehouse", 3.0)
        except CircuitOpenError as exc:
            raise WarehouseUnavailableError("pool: cannot connect") from exc
    except WarehouseUnavailableError as wrapped:
        return wrapped


NOT_TRANSIENT.append(_wrapped_open_breaker())


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors(exc: BaseException) -> None:
    assert is_transient(exc) is True


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=lambda e: type(e).__name__)
def test_non_transient_errors(exc: BaseException) -> None:
    assert is_transient(exc) is False


def test_a_query_timeout_is_a_breaker_failure_but_a_rejected_statement_is_not() -> None:
    assert default_is_failure(QueryTimeoutError("statement did not finish within 30s"))
    assert not default_is_failure(QueryError("syntax error"))
    assert not default_is_failure(CircuitOpenError("warehouse", 1.0))


class RecordingSleep:
    """An async sleep that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Flaky:
    """Fails with ``error`` the first ``failures`` times, then returns ``"done"``."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


async def test_retries_transient_errors_until_success() -> None:
    sleep = RecordingSleep()
    flaky = Flaky(2, ConnectionResetError("reset"))
    result: str = await async_retrying(RetrySettings(attempts=3), sleep=sleep)(flaky)
    assert result == "done" and flaky.calls == 3
    assert len(sleep.waits) == 2


async def test_gives_up_after_attempts_with_the_original_error() -> None:
    sleep = RecordingSleep()
    flaky = Flaky(10, ConnectionResetError("reset"))
    with pytest.raises(ConnectionResetError):
        await async_retrying(RetrySettings(attempts=4), sleep=sleep)(flaky)
    assert flaky.calls == 4


@pytest.mark.parametrize(
    "error", [CircuitOpenError("warehouse", 5.0), QueryError("bad"), ValueError("bad")]
)
async def test_never_retries_non_transient_errors(error: BaseException) -> None:
    sleep = RecordingSleep()
    flaky = Flaky(10, error)
    with pytest.raises(type(error)):
        await async_retrying(RetrySettings(attempts=5), sleep=sleep)(flaky)
    assert flaky.calls == 1 and sleep.waits == []


async def test_jittered_backoff_stays_in_the_growing_window() -> None:
    settings = RetrySettings(attempts=6, initial_s=0.1, max_s=0.5, total_s=100.0)
    all_waits: list[list[float]] = []
    for _ in range(30):
        sleep = RecordingSleep()
        with pytest.raises(ConnectionResetError):
            await async_retrying(settings, sleep=sleep)(Flaky(10, ConnectionResetError()))
        all_waits.append(sleep.waits)
    ceilings = [0.1, 0.2, 0.4, 0.5, 0.5]
    for waits in all_waits:
        assert len(waits) == 5
        assert all(0 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    # Full jitter: the waits are spread out, not one fixed schedule.
    assert len({tuple(w) for w in all_waits}) > 1
    assert len({round(w[3], 6) for w in all_waits}) > 5


async def test_without_jitter_the_backoff_is_exponential() -> None:
    sleep = RecordingSleep()
    settings = RetrySettings(attempts=5, initial_s=0.1, max_s=0.5, total_s=100.0, jitter=False)
    with pytest.raises(TimeoutError):
        await async_retrying(settings, sleep=sleep)(Flaky(10, TimeoutError()))
    assert sleep.waits == pytest.approx([0.1, 0.2, 0.4, 0.5])


async def test_total_time_bounds_the_retries() -> None:
    # Real (short) sleeps: tenacity measures total time with time.monotonic.
    settings = RetrySettings(attempts=10_000, initial_s=0.01, max_s=0.02, total_s=0.2)
    flaky = Flaky(10_000, ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        await async_retrying(settings)(flaky)
    assert 2 <= flaky.calls < 100


def test_settings_are_validated() -> None:
    from stores.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        RetrySettings(attempts=0)
    with pytest.raises(ConfigurationError):
        RetrySettings(initial_s=2.0, max_s=1.0)


def test_langgraph_retry_policy_mirrors_the_settings() -> None:
    policy = langgraph_retry_policy(RetrySettings(attempts=4, initial_s=0.2, max_s=3.0))
    assert policy.max_attempts == 4
    assert policy.initial_interval == 0.2 and policy.max_interval == 3.0
    assert policy.jitter is True
    assert callable(policy.retry_on)
    assert policy.retry_on(ConnectionResetError()) is True
    assert policy.retry_on(ValueError()) is False


class State(TypedDict, total=False):
    value: str


def _graph(node: Any) -> Any:
    policy = langgraph_retry_policy(RetrySettings(attempts=3, initial_s=0.001, max_s=0.002))
    builder = StateGraph(State)
    builder.add_node("fetch", node, retry_policy=policy)
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", END)
    return builder.compile()


async def test_langgraph_node_retries_transient_errors() -> None:
    calls = 0

    async def fetch(state: State) -> State:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise redis_errors.ConnectionError("connection refused")
        return {"value": "fetched"}

    result = await _graph(fetch).ainvoke({})
    assert result == {"value": "fetched"} and calls == 3


async def test_langgraph_node_does_not_retry_an_open_breaker() -> None:
    calls = 0

    async def fetch(state: State) -> State:
        nonlocal calls
        calls += 1
        raise CircuitOpenError("warehouse", 5.0)

    with pytest.raises(CircuitOpenError):
        await _graph(fetch).ainvoke({})
    assert calls == 1
