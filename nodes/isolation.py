"""Branch isolation: a node that raises or times out leaves an error in the state.

LangGraph fails the whole superstep when one task raises, so a failing source would
sink the run. `isolated()` wraps a node so that its exception or timeout becomes an
entry in ``state["errors"]`` (which node, what error) and the other branches' results
are kept; the run then completes with a partial result. The wrapper also records the
node's time window in ``state["timings"]``, opens the node's span (so warehouse, cache
and memory spans made inside nest under it) and feeds the performance monitor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime
from opentelemetry.trace import Status, StatusCode

from nodes.context import Resources
from nodes.state import NodeError, NodeTiming
from stores.resilience.retry import retry_at_node
from telemetry import monitor, node_span

logger = logging.getLogger(__name__)

NodeFn = Callable[[Any, Runtime[Resources]], Awaitable[dict[str, Any]]]


def isolated(
    name: str,
    fn: NodeFn,
    *,
    timeout_s: float | None = None,
    kind: str = "agent",
    retry_attempts: int = 1,
) -> NodeFn:
    """Wrap node `fn` so its failure or timeout is recorded in the state, not raised.

    `timeout_s` overrides the engine's default node timeout (``settings.node_timeout_s``).
    With `retry_attempts` > 1 the node must also be given LangGraph's `RetryPolicy` of as
    many attempts (`stores.resilience.retry.langgraph_retry_policy`): a transient error that
    no guard has already retried (`stores.resilience.retry.retry_at_node`; never an open
    breaker, never a failed warehouse statement) is then re-raised for LangGraph to retry,
    and only the last attempt's failure becomes an error entry. A node timeout
    is never retried: the branch has had its time. Cancellation of the run itself still
    propagates, and so do LangGraph's control signals (`GraphBubbleUp`: an `interrupt()`
    pausing for a human, a parent command).
    """

    @functools.wraps(fn)
    async def run(state: Any, runtime: Runtime[Resources]) -> dict[str, Any]:
        limit = timeout_s if timeout_s is not None else runtime.context.settings.node_timeout_s
        attempt = _attempt(runtime)
        start = time.time()
        update: dict[str, Any]
        deadline = asyncio.timeout(limit)
        with node_span(name, attempt=attempt) as span:
            try:
                with monitor(f"node.{name}", kind=kind):
                    async with deadline:
                        update = dict(await fn(state, runtime))
            except GraphBubbleUp:
                span.set_attribute("sophia.node.outcome", "interrupted")
                raise
            except Exception as exc:
                timed_out = isinstance(exc, TimeoutError) and deadline.expired()
                if not timed_out and attempt < retry_attempts and retry_at_node(exc):
                    logger.info("node %s attempt %d failed (%s): retrying", name, attempt, exc)
                    raise  # LangGraph's RetryPolicy (same predicate) runs the node again
                update = {"errors": [_error(name, exc, timed_out=timed_out, limit=limit)]}
                span.set_attribute("sophia.node.outcome", "timeout" if timed_out else "error")
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, update["errors"][0]["message"]))
                logger.warning("node %s failed: %s: %s", name, type(exc).__name__, exc)
        end = time.time()
        timing: NodeTiming = {
            "start_ms": start * 1000,
            "end_ms": end * 1000,
            "duration_ms": (end - start) * 1000,
            "ok": "errors" not in update,
        }
        update["timings"] = {name: timing}
        return update

    return run


def _attempt(runtime: Runtime[Resources]) -> int:
    """Which attempt of the node this is (1 on the first run), per LangGraph."""
    info = getattr(runtime, "execution_info", None)
    return int(getattr(info, "node_attempt", 1) or 1)


def _error(name: str, exc: BaseException, *, timed_out: bool, limit: float) -> NodeError:
    message = f"timed out after {limit:g}s" if timed_out else (str(exc) or type(exc).__name__)
    return {
        "node": name,
        "error": "TimeoutError" if timed_out else type(exc).__name__,
        "message": message,
        "timed_out": timed_out,
    }
