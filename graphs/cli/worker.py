"""``sophia worker``: execute queued runs (``SOPHIA_RUN_QUEUE=postgres``) until stopped."""

from __future__ import annotations

import argparse
from typing import Any

from graphs.cli.arguments import port, positive_float, positive_int


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``worker`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "worker",
        parents=[common],
        help="execute runs that API servers queued (any number, on any machine)",
        description="Take runs from the durable run queue in Postgres and execute them, "
        "streaming their events through Redis to whichever API server follows them. Needs "
        "SOPHIA_RUN_QUEUE=postgres, SOPHIA_POSTGRES_URL and SOPHIA_REDIS_URL, as the API "
        "servers (`sophia serve`) have. Stop with SIGTERM or Ctrl-C: running runs get the "
        "grace period, the rest resume on another worker from their last checkpoint.",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        help="runs executed at once (default SOPHIA_WORKER_CONCURRENCY, else 8); they "
        "share the warehouse pool, SOPHIA_POOL_MAX_SIZE connections (unset: at least one "
        "per run slot)",
    )
    parser.add_argument(
        "--grace",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, seconds running runs get to finish (default 30)",
    )
    parser.add_argument(
        "--run-timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="a run that takes longer ends with status timeout (default 30, as sophia serve)",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1",
        help="the address of /healthz and /metrics (default 127.0.0.1; 0.0.0.0 for a probe "
        "from outside)",
    )  # fmt: skip
    parser.add_argument(
        "--metrics-port",
        type=lambda text: 0 if text == "0" else port(text),
        default=9100,
        help="the port of /healthz and /metrics (default 9100; 0: none)",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run the worker until it is stopped; exit status 0 after a clean stop."""
    import asyncio

    from graphs.cli.output import stdout_console
    from graphs.server.langgraph_api.webhooks import allowed_hosts
    from graphs.server.security import SecuritySettings
    from stores.settings import Settings

    settings = Settings().with_absolute_paths()
    hosts = allowed_hosts(SecuritySettings().webhook_hosts)
    console = stdout_console()

    async def work() -> None:
        from graphs.workers.health import health_endpoint
        from graphs.workers.queue_metrics import queue_gauges
        from graphs.workers.worker import RunWorker

        async with RunWorker.open(settings, concurrency=args.concurrency,
                                  run_timeout_s=args.run_timeout, webhook_hosts=hosts) as worker:
            async with queue_gauges(worker.engine.durable.runs) as sampler, health_endpoint(
                lambda: {"status": "ok", "concurrency": worker.concurrency,
                         "queue_depth": sampler.depth}, args.metrics_host, args.metrics_port,
            ):  # fmt: skip
                pool = worker.settings.pool_max_size
                console.print(f"worker ready: concurrency {worker.concurrency}, at most {pool} "
                              "warehouse connections (SOPHIA_POOL_MAX_SIZE; unset: at least "
                              "the concurrency)", highlight=False)  # fmt: skip
                await worker.run(grace_s=args.grace)

    asyncio.run(work())
    return 0
