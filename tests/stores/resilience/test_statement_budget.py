"""The statement's timeout budget nests, and a failing statement runs at most as often as
the warehouse guard allows: the guard is its one retry layer, node retries skip it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from stores.demo import data as demo_data
from stores.errors import ConfigurationError
from stores.resilience.breaker import CircuitBreaker
from stores.resilience.budget import StatementBudget
from stores.resilience.guards import Guard, ResilienceRegistry
from stores.resilience.retry import (
    RetrySettings,
    guarded_by,
    is_transient,
    langgraph_retry_policy,
    retry_at_node,
)
from stores.settings import Settings
from stores.warehouse.errors import QueryTimeoutError, WarehouseUnavailableError


def test_the_default_budget_nests() -> None:
    budget = Settings().statement_budget()
    assert budget == StatementBudget()
    assert budget.query_timeout_s < budget.attempt_timeout_s
    assert budget.guard_worst_case_s < budget.node_timeout_s
    assert Settings().pool_acquire_timeout_s < budget.attempt_timeout_s


def test_a_statement_timeout_outside_its_attempt_is_refused_naming_both() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings(query_timeout_s=9.0, warehouse_attempt_timeout_s=9.0)
    assert "SOPHIA_QUERY_TIMEOUT_S (9s)" in str(info.value)
    assert "SOPHIA_WAREHOUSE_ATTEMPT_TIMEOUT_S (9s)" in str(info.value)


def test_a_guard_outlasting_the_node_is_refused_naming_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOPHIA_NODE_TIMEOUT_S", "10")
    with pytest.raises(ConfigurationError) as info:
        Settings(warehouse_attempts=3, warehouse_attempt_timeout_s=4.0, query_timeout_s=3.0)
    message = str(info.value)
    for name in (
        "SOPHIA_WAREHOUSE_ATTEMPTS (3)",
        "SOPHIA_WAREHOUSE_ATTEMPT_TIMEOUT_S (4s)",
        "= 13s",
        "SOPHIA_NODE_TIMEOUT_S (10s)",
    ):
        assert name in message
    Settings(warehouse_attempts=2, warehouse_attempt_timeout_s=4.0, query_timeout_s=3.0)


def test_settings_copied_past_validation_are_checked_when_the_guards_are_made() -> None:
    copied = Settings().model_copy(update={"node_timeout_s": 5.0})  # model_copy skips checks
    with pytest.raises(ConfigurationError, match="SOPHIA_NODE_TIMEOUT_S"):
        ResilienceRegistry.from_settings(copied)


async def no_sleep(seconds: float) -> None:
    """Retry waits cost nothing here."""


async def test_an_error_a_guard_gave_up_on_is_not_retried_at_the_node() -> None:
    calls = 0

    async def reset() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionResetError("reset by peer")

    guard = Guard("dep", CircuitBreaker("dep"), RetrySettings(attempts=3), sleep=no_sleep)
    with pytest.raises(ConnectionResetError) as info:
        await guard.run(reset)
    assert calls == 3
    exc = info.value
    assert is_transient(exc) and guarded_by(exc) == "dep"
    assert not retry_at_node(exc)
    assert not langgraph_retry_policy().retry_on(exc)  # type: ignore[operator]
    # raised again from the guarded error, it is still the guard's
    wrapped = WarehouseUnavailableError("the warehouse is gone")
    wrapped.__cause__ = exc
    assert not retry_at_node(wrapped)
    # an error no guard has seen is retried at the node, as before
    fresh = ConnectionResetError("reset by peer")
    assert retry_at_node(fresh) and langgraph_retry_policy().retry_on(fresh)  # type: ignore[operator]
    # not retried by the guard (no retry policy) still means: the guard decided
    unretried = Guard("once", CircuitBreaker("once"), None)
    with pytest.raises(ConnectionResetError) as once:
        await unretried.run(reset)
    assert guarded_by(once.value) == "once" and not retry_at_node(once.value)
    assert not retry_at_node(KeyError("amount"))  # not transient at all


# -- through a whole deal review ----------------------------------------------------------


@dataclass
class Stalled:
    """The stalled warehouse: its file, a connection to it, and the switch that ends the stall."""

    path: Path
    conn: duckdb.DuckDBPyConnection
    released: threading.Event


@pytest.fixture
def stalled_linear(tmp_path: Path) -> Iterator[Stalled]:
    """A demo warehouse whose ``linear_projects`` does not answer: it is a view over the
    real table through a function that blocks until released. DuckDB logs every statement
    it receives (its QueryLog); the connection yielded shares the engine's database."""
    path = tmp_path / "warehouse.duckdb"
    demo_data.write_duckdb(path, demo_data.generate(demo_data.SMALL))
    released = threading.Event()

    def stall(value: str) -> str:
        released.wait(60)
        return value

    varchar = duckdb.sqltypes.VARCHAR
    with duckdb.connect(str(path)) as setup:
        # the view binds its function when queried; this one only lets it be created
        setup.create_function("stall", lambda value: value, [varchar], varchar)
        setup.execute("ALTER TABLE linear_projects RENAME TO linear_projects_data")
        setup.execute(
            "CREATE VIEW linear_projects AS "
            "SELECT * FROM linear_projects_data WHERE stall(deal_id) = deal_id"
        )
    # read-only, as the engine opens it: the two then share one database in this process
    conn = duckdb.connect(str(path), read_only=True)
    try:
        conn.create_function("stall", stall, [varchar], varchar, side_effects=True)
        conn.execute("CALL enable_logging('QueryLog')")
        yield Stalled(path, conn, released)
    finally:
        released.set()
        conn.close()


def received(conn: duckdb.DuckDBPyConnection, table: str) -> Counter[str]:
    """Statements naming ``table`` that DuckDB received, by text."""
    rows = conn.execute("SELECT message FROM duckdb_logs WHERE type = 'QueryLog'").fetchall()
    return Counter(sql for (sql,) in rows if table in sql and "information_schema" not in sql)


@pytest.mark.timeout(120)
async def test_a_failing_statement_runs_at_most_the_configured_attempts_in_a_deal_review(
    tmp_path: Path, stalled_linear: Stalled
) -> None:
    """Before, the warehouse guard's 3 attempts ran under LangGraph's 2 node attempts: the
    linear agent's statement reached the warehouse 6 times. Now: the guard's 2, once."""
    from graphs.engine.engine import Engine

    settings = Settings(
        data_dir=tmp_path / "data",
        warehouse_url=f"duckdb:///{stalled_linear.path}",
        redis_url=None,
        node_timeout_s=5.0,
        query_timeout_s=1.0,
        warehouse_attempt_timeout_s=1.5,
        warehouse_attempts=2,
        trace_file=False,
    )
    async with Engine(settings, configure_telemetry=False) as engine:
        try:
            result = await engine.invoke("deal_review", {})
        finally:
            stalled_linear.released.set()  # the abandoned statements end; the engine closes
    failed = {e["node"]: e for e in result["errors"]}
    assert failed["linear"]["error"] == QueryTimeoutError.__name__, result["errors"]
    assert not {"hubspot", "gong", "slack"} & set(failed)
    statements = received(stalled_linear.conn, "linear_projects")
    assert statements, "the linear agent's statement never reached DuckDB"
    assert max(statements.values()) == settings.warehouse_attempts, statements
