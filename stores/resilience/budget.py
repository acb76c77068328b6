"""The time budget of one warehouse statement, and how many times it may run.

The layers nest, innermost first (docs/architecture.md, "Timeout budget"):

- the **statement** runs at most ``query_timeout_s`` on its connection (then
  `QueryTimeoutError`, and the connection is discarded);
- one **attempt** (acquire a connection + the statement) runs at most
  ``attempt_timeout_s``, the warehouse guard's per-attempt timeout;
- the **guard** makes at most ``attempts`` attempts, each on a fresh connection, waiting
  a jittered backoff of at most ``backoff_max_s`` between two. It is the one retry layer
  of a statement: node-level retries skip errors a guard has already had
  (`stores.resilience.retry.retry_at_node`);
- the **node** that issued the statement gives up after ``node_timeout_s``.

`StatementBudget` refuses settings that do not nest, with a `ConfigurationError` naming
them: the statement must time out inside its attempt (so the error names the statement
and the connection is discarded), and the guard's worst case (every attempt timing out,
every backoff at its longest) must end before the node's timeout (otherwise the node
cancels the guard mid-retry, and the breaker never sees the failure).
"""

from __future__ import annotations

from dataclasses import dataclass

from stores.errors import ConfigurationError

DEFAULT_QUERY_TIMEOUT_S = 8.0
DEFAULT_ATTEMPT_TIMEOUT_S = 9.0
DEFAULT_ATTEMPTS = 2
DEFAULT_NODE_TIMEOUT_S = 20.0
DEFAULT_ACQUIRE_TIMEOUT_S = 5.0
BACKOFF_INITIAL_S = 0.1
"""The first retry waits up to this long (full jitter); each further one up to twice more."""
BACKOFF_MAX_S = 0.5
"""No wait between two attempts is longer."""


@dataclass(frozen=True)
class StatementBudget:
    """How long one statement may take at each layer; validated on construction."""

    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    attempt_timeout_s: float = DEFAULT_ATTEMPT_TIMEOUT_S
    attempts: int = DEFAULT_ATTEMPTS
    node_timeout_s: float = DEFAULT_NODE_TIMEOUT_S
    backoff_max_s: float = BACKOFF_MAX_S

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(
                f"SOPHIA_WAREHOUSE_ATTEMPTS must be at least 1, got {self.attempts}"
            )
        if not self.query_timeout_s < self.attempt_timeout_s:
            raise ConfigurationError(
                f"SOPHIA_QUERY_TIMEOUT_S ({self.query_timeout_s:g}s) must be below "
                f"SOPHIA_WAREHOUSE_ATTEMPT_TIMEOUT_S ({self.attempt_timeout_s:g}s): a statement "
                "has to time out inside the attempt that runs it"
            )
        if not self.guard_worst_case_s < self.node_timeout_s:
            raise ConfigurationError(
                f"SOPHIA_WAREHOUSE_ATTEMPTS ({self.attempts}) x "
                f"SOPHIA_WAREHOUSE_ATTEMPT_TIMEOUT_S ({self.attempt_timeout_s:g}s) + "
                f"{self.attempts - 1} backoff(s) of up to {self.backoff_max_s:g}s = "
                f"{self.guard_worst_case_s:g}s must be below SOPHIA_NODE_TIMEOUT_S "
                f"({self.node_timeout_s:g}s): the warehouse guard has to give up before "
                "the node does"
            )

    @property
    def guard_worst_case_s(self) -> float:
        """The longest the guard can take: every attempt timing out, every backoff maximal."""
        return self.attempts * self.attempt_timeout_s + (self.attempts - 1) * self.backoff_max_s
