"""``sophia info``: where everything is, and what answers.

The data dir (and why it is that one), the warehouse (URL with its secrets hidden), the
memory index, Redis, the checkpoint store, the span file, the OTLP endpoint, Jaeger's UI
and the local server. Each service is probed at once, concurrently, with a short
timeout; nothing is opened for longer than the probe and nothing is written.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from stores.settings import Settings

PROBE_TIMEOUT_S = 3.0
"""How long each probe may take (they run concurrently)."""
ORIGINS = {
    "set": "SOPHIA_DATA_DIR",
    "project": "the project root's .sophia",
    "user": "the user data dir (outside the project, SOPHIA_DATA_DIR unset)",
}


@dataclass
class Item:
    """One line of ``sophia info``: what, where, and its state (ok, missing, ...)."""

    name: str
    where: str | None
    state: str
    detail: str = ""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``info`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "info",
        parents=[common],
        help="where the data, the warehouse and the services are, and what is reachable",
        description="Show where everything is (data dir, warehouse, memory index, Redis, "
        "checkpoints, span file, OTLP endpoint, Jaeger UI, the local server) with secrets "
        "hidden, and probe each service.",
    )
    parser.add_argument("--json", action="store_true", help="print it as JSON")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Print where everything is; 0 even when a service is down (that is what it shows)."""
    import asyncio

    from stores.settings import Settings

    items = asyncio.run(collect(Settings()))
    if args.json:
        from graphs.cli.output import print_json

        print_json({item.name.lower().replace(" ", "_"): asdict(item) for item in items})
    else:
        _print(items)
    return 0


async def collect(settings: Settings) -> list[Item]:
    """Every item of ``sophia info`` for `settings`, the services probed concurrently."""
    import asyncio

    from graphs.cli.report import jaeger_ui, otlp_endpoint
    from graphs.cli.stats import server_url
    from stores.urls import redact_url

    await asyncio.to_thread(_import_clients)  # imports are not part of a probe's time
    data_dir, origin = await asyncio.to_thread(settings.locate_data_dir)
    settings = settings.model_copy(update={"data_dir": data_dir})
    endpoint = otlp_endpoint()
    jaeger = jaeger_ui(settings)
    server = server_url(settings)
    probes = await asyncio.gather(
        _warehouse(settings),
        _redis(settings.redis_url),
        _checkpoints(settings),
        _tcp("OTLP endpoint", endpoint, "spans go to the span file only"),
        _http("Jaeger UI", jaeger, "", "not set (SOPHIA_JAEGER_UI, or an OTLP endpoint)"),
        _http("server", server, "/healthz", ""),
    )
    memory = data_dir / "memory"
    traces = data_dir / "traces.jsonl"
    traced = await asyncio.to_thread(traces.exists)
    head = [
        Item("data dir", str(data_dir), "ok", f"from {ORIGINS[origin]}"),
        probes[0],
        await asyncio.to_thread(_memory_item, data_dir, memory),
        probes[1],
        probes[2],
        _queue_item(settings),
        Item(
            "span file",
            str(traces),
            ("ok" if traced else "empty") if settings.trace_file else "off",
            "for `sophia trace`" if settings.trace_file else "SOPHIA_TRACE_FILE=false",
        ),
    ]
    items = [*head, *probes[3:]]
    for item in items:  # every URL shown is shown without its secrets
        if item.where and "://" in item.where:
            item.where = redact_url(item.where)
    if items[-1].state != "ok":
        items[-1].state = "not running"
        items[-1].detail = "`sophia serve` listens here with these settings"
    return items


def _import_clients() -> None:
    import httpx  # noqa: F401
    import psycopg  # noqa: F401
    import redis.asyncio  # noqa: F401


async def _bounded(name: str, where: str | None, probe: Any) -> Item:
    import asyncio

    try:
        detail = await asyncio.wait_for(probe, PROBE_TIMEOUT_S)
    except TimeoutError:
        return Item(name, where, "unreachable", f"no answer within {PROBE_TIMEOUT_S:g} s")
    except Exception as exc:
        from graphs.cli.output import one_line

        return Item(name, where, "unreachable", one_line(f"{type(exc).__name__}: {exc}")[:200])
    return Item(name, where, "ok", detail or "")


async def _warehouse(settings: Settings) -> Item:
    import asyncio
    from pathlib import Path

    from stores.errors import ConfigurationError
    from stores.warehouse.backends.url import parse_warehouse_url

    url = settings.resolved_warehouse_url
    try:
        parsed = parse_warehouse_url(url)
    except ConfigurationError as exc:
        return Item("warehouse", url, "invalid", str(exc))
    if parsed.scheme == "duckdb":
        if parsed.path == ":memory:":
            return Item("warehouse", url, "ok", "in memory (empty at each start)")
        exists = await asyncio.to_thread(Path(parsed.path).exists)
        return Item(
            "warehouse",
            url,
            "ok" if exists else "missing",
            "DuckDB file" if exists else "`sophia seed` (or `sophia run`) creates it",
        )
    host = parsed.options.get("host") or f"{parsed.account}.snowflakecomputing.com"
    port = int(parsed.options.get("port") or 443)
    return await _bounded("warehouse", url, _connect(host, port, f"Snowflake at {host}:{port}"))


async def _connect(host: str, port: int, what: str) -> str:
    import asyncio

    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()
    return f"{what} accepts connections"


async def _tcp(name: str, url: str | None, unset: str) -> Item:
    from urllib.parse import urlsplit

    if not url:
        return Item(name, None, "not set", unset)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "localhost"
    return await _bounded(name, url, _connect(host, port, f"{host}:{port}"))


async def _http(name: str, base: str | None, path: str, unset: str) -> Item:
    if not base:
        return Item(name, None, "not set", unset)

    async def get() -> str:
        import httpx

        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            response = await client.get(base.rstrip("/") + path)
        return f"answers HTTP {response.status_code}"

    return await _bounded(name, base, get())


async def _redis(url: str | None) -> Item:
    if not url:
        return Item("redis", None, "not set", "L1 cache only (SOPHIA_REDIS_URL)")

    async def ping() -> str:
        import redis.asyncio as aioredis

        client = aioredis.from_url(
            url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S
        )
        try:
            await client.ping()
        finally:
            await client.aclose()
        return "answers PING"

    return await _bounded("redis", url, ping())


async def _checkpoints(settings: Settings) -> Item:
    import asyncio
    from pathlib import Path

    if not settings.postgres_url:
        name = settings.checkpoint_db
        if name == ":memory:":
            return Item("checkpoints", name, "ok", "SQLite in memory (lost at exit)")
        path = Path(name) if Path(name).is_absolute() else settings.data_dir / name
        exists = await asyncio.to_thread(path.exists)
        return Item(
            "checkpoints",
            str(path),
            "ok" if exists else "empty",
            "SQLite" + ("" if exists else ": created by the first `sophia run --thread`"),
        )
    url = settings.postgres_url

    async def connect() -> str:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=int(PROBE_TIMEOUT_S))
        await conn.close()
        return "Postgres accepts connections"

    return await _bounded("checkpoints", url, connect())


_STYLE = {"ok": "green", "missing": "yellow", "empty": "dim", "off": "dim", "not set": "dim"}


def _queue_item(settings: Settings) -> Item:
    if settings.run_queue == "postgres":
        return Item("run queue", "postgres (checkpoint store)", "on",
                    "background runs execute on `sophia worker` processes")  # fmt: skip
    return Item("run queue", None, "off", "background runs execute in `sophia serve` "
                "(SOPHIA_RUN_QUEUE=postgres: on workers)")  # fmt: skip


def _print(items: list[Item]) -> None:
    from rich.markup import escape

    from graphs.cli.output import print_copyable, stdout_console

    console = stdout_console()
    for item in items:
        style = _STYLE.get(item.state, "red")
        detail = f"  {escape(item.detail)}" if item.detail else ""
        console.print(f"[bold]{item.name}[/]  [{style}]{item.state}[/]{detail}")
        if item.where:
            print_copyable(console, f"  {item.where}")


def _memory_item(data_dir: Path, memory: Path) -> Item:
    """The memory index: built, being built (with its progress), failed, or missing."""
    from graphs.seeding.memory_build import read_status

    # The builder's status first, the published index after: a build that ends between
    # the two reads is then seen as built, never as missing.
    build = read_status(data_dir)
    if build is not None and build.alive():
        pct = f"{build.fraction:.0%}" if build.fraction is not None else "starting"
        detail = f"{pct}, process {build.pid}; reviews run meanwhile without memories"
        return Item("memory index", str(memory), "building", detail)
    if build is not None and build.error:
        return Item("memory index", str(memory), "failed",
                    f"{build.error[:120]}; `sophia seed` rebuilds it")  # fmt: skip
    if (memory / "CURRENT").exists():
        return Item("memory index", str(memory), "ok", "")
    return Item("memory index", str(memory), "missing", "recall finds nothing until `sophia seed`")
