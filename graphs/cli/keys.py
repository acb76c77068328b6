"""``sophia keys create|list|revoke``: the API keys `sophia serve` accepts.

    sophia keys create NAME [--tenant T] [--graph G ...] [--read-only]
                            [--max-concurrent N] [--per-minute N] [--json]
    sophia keys list [--all] [--json]
    sophia keys revoke KEY_ID

Keys live in the engine's own store (SQLite under the data dir, or Postgres when
``SOPHIA_POSTGRES_URL`` is set), hashed; `create` prints the key once. A server sees a
revoked key refused within its cache bound (`graphs.server.auth.REVALIDATE_S`).
Wire into `graphs.cli.main` with `add_commands(sub)` and ``run_command(args)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stores.errors import SophiaError
from stores.settings import Settings

COMMAND = "keys"


def add_commands(sub: Any) -> None:
    """Add ``keys`` (with ``create``, ``list``, ``revoke``) to the `sophia` parsers `sub`."""
    keys = sub.add_parser("keys", help="create, list and revoke API keys for `sophia serve`")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser("create", help="make a key (printed once)")
    create.add_argument("name", help="who or what the key is for (recorded as the reviewer)")
    create.add_argument("--tenant", help="the owner of what the key creates (default: the key)")
    create.add_argument("--graph", dest="graphs", action="append", metavar="NAME",
                        help="a graph the key may use (repeat; default: every graph)")  # fmt: skip
    create.add_argument("--read-only", action="store_true", help="the key may only read")
    create.add_argument(
        "--max-concurrent", type=int, metavar="N",
        help="runs at once (default: the server's SOPHIA_KEY_MAX_CONCURRENT_RUNS)",
    )  # fmt: skip
    create.add_argument(
        "--per-minute", type=int, metavar="N",
        help="runs started per minute (default: the server's SOPHIA_KEY_RUNS_PER_MINUTE)",
    )  # fmt: skip
    create.add_argument("--json", action="store_true", help="print the key and its row as JSON")

    listing = actions.add_parser("list", help="the keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true", help="print JSON")

    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", metavar="KEY_ID")


async def run_command(
    args: argparse.Namespace, settings: Settings | None = None, console: Console | None = None
) -> int:
    """Run one ``keys`` action; 0 on success, 1 with a message on a SophiaError."""
    from graphs.durable.store import open_durable

    out = console or Console()
    resolved = await asyncio.to_thread((settings or Settings()).with_absolute_paths)
    try:
        async with open_durable(resolved) as durable:
            await durable.ensure_ready()
            store = durable.keys
            if args.keys_command == "create":
                record, key = await store.create(
                    args.name,
                    tenant=args.tenant,
                    graphs=args.graphs,
                    read_only=args.read_only,
                    max_concurrent_runs=args.max_concurrent,
                    runs_per_minute=args.per_minute,
                )
                if args.json:
                    print(json.dumps({"key": key, **record.public()}, indent=2))
                else:
                    out.print(f"key {escape(record.key_id)} for {escape(record.name)} "
                              f"(tenant {escape(record.tenant)}):")  # fmt: skip
                    print(key)
                    out.print("[yellow]Store it now: it is not shown again.[/yellow]")
                return 0
            if args.keys_command == "list":
                keys = await store.list(include_revoked=args.all)
                if args.json:
                    print(json.dumps([k.public() for k in keys], indent=2))
                else:
                    out.print(_table([k.public() for k in keys]))
                return 0
            if not await store.revoke(args.key_id):
                raise SophiaError(f"no active key with id {args.key_id}")
            out.print(f"revoked {escape(args.key_id)}")
            return 0
    except SophiaError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        return 1


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="API keys")
    for column in ("id", "prefix", "name", "tenant", "graphs", "access", "quotas", "created",
                   "revoked"):
        table.add_column(column, no_wrap=column in ("id", "prefix"))  # copied by hand
    for row in rows:
        quotas = (f"{row['max_concurrent_runs'] or '-'} at once, "
                  f"{row['runs_per_minute'] or '-'}/min")  # fmt: skip
        cells = (
            row["key_id"], row["prefix"], row["name"], row["tenant"],
            ", ".join(row["graphs"]) if row["graphs"] is not None else "all",
            "read-only" if row["read_only"] else "read-write", quotas,
            row["created_at"][:19], (row["revoked_at"] or "-")[:19],
        )  # fmt: skip
        table.add_row(*(escape(str(c)) for c in cells))
    return table
