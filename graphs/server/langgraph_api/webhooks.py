"""Run webhooks: when a run that asked for one ends, its outcome is POSTed to its URL.

Only to hosts the operator allows (``SOPHIA_WEBHOOK_HOSTS``, see
`graphs.server.security.SecuritySettings.webhook_hosts`): a run naming any other host,
or a URL that is not http(s), is refused when it is created (422), so the service can
not be made to call arbitrary addresses. The body is the run as ``runs.get`` shows it
plus, as LangGraph's server sends it, ``values`` (the final values), ``run_started_at``,
``run_ended_at``, ``webhook_sent_at`` and ``error`` (a failed run's message). A send is
tried `ATTEMPTS` times, each bounded by `TIMEOUT_S`, backing off between them; a 2xx
answer ends it, and a webhook that keeps failing is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from graphs.server.encoding import encode
from graphs.server.langgraph_api.errors import ApiError

logger = logging.getLogger(__name__)

ATTEMPTS = 3
TIMEOUT_S = 10.0
BACKOFF_S = 0.5
"""Wait before the second attempt; doubled before each further one."""


def allowed_hosts(setting: str | None) -> frozenset[str]:
    """The host names a comma-separated ``SOPHIA_WEBHOOK_HOSTS`` allows (lower case)."""
    return frozenset(h.strip().lower() for h in (setting or "").split(",") if h.strip())


def check_webhook(url: str, hosts: Iterable[str]) -> str:
    """`url` when a run may call it; ApiError 422 saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "webhook: must be an http or https URL with a host")
    allowed = frozenset(hosts)
    if not allowed:
        raise ApiError(422, "webhook: webhooks are off on this server "
                       "(no host is allowed: set SOPHIA_WEBHOOK_HOSTS)")  # fmt: skip
    if parts.hostname.lower() not in allowed:
        raise ApiError(422, f"webhook: host {parts.hostname[:100]!r} is not allowed "
                       "(SOPHIA_WEBHOOK_HOSTS)")  # fmt: skip
    return url


def iso(epoch_s: float | None) -> str | None:
    """Epoch seconds as ISO 8601 text (None stays None)."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat() if epoch_s is not None else None


def payload(run: dict[str, Any], values: Any, started_at: float | None,
            ended_at: float | None, error: str | None) -> dict[str, Any]:  # fmt: skip
    """The body of a run's webhook (see the module docstring)."""
    body = {**run, "values": values, "run_started_at": iso(started_at),
            "run_ended_at": iso(ended_at), "webhook_sent_at": datetime.now(UTC).isoformat()}
    if error is not None:
        body["error"] = error
    return body


async def send(
    url: str,
    body: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    timeout_s: float = TIMEOUT_S,
    backoff_s: float = BACKOFF_S,
) -> bool:
    """POST `body` to `url` until a 2xx answer (at most `attempts` times); whether it
    was delivered. Never raises but for cancellation."""
    import httpx

    content = encode(body)
    headers = {"Content-Type": "application/json"}
    delay = backoff_s
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
        for attempt in range(1, attempts + 1):
            try:
                response = await client.post(url, content=content, headers=headers)
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            logger.warning("webhook of run %s, attempt %d/%d failed: %s",
                           body.get("run_id"), attempt, attempts, problem)  # fmt: skip
            if attempt < attempts:
                await asyncio.sleep(delay)
                delay *= 2
    return False
