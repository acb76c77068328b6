"""``sophia keys create|list|revoke``: the API keys `sophia serve` accepts.

    sophia keys create NAME [--tenant T] [--graph G ...] [--read-only]
                            [--max-concurrent N] [--per-minute N] [--json]
    sophia keys list [--all] [--json]
    sophia keys revoke KEY_ID

Keys live in the engine's own store (SQLite under the data dir, or Postgres when
``SOPHIA_POSTGRES_URL`` is set), hashed; `create` prints the key once, on a line of its
own. A server refuses a revoked key within its cache bound (`graphs.server.auth`).
"""

from __future__ import annotations

import argparse
from typing import Any

from graphs.cli.arguments import positive_int


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``keys`` (with ``create``, ``list``, ``revoke``) to the sub-command parsers `sub`."""
    keys = sub.add_parser(
        "keys",
        parents=[common],
        help="create, list and revoke API keys for `sophia serve`",
        description="API keys for `sophia serve`: each is shown once when it is made and "
        "stored hashed; it may be limited to some graphs, to reading, and to a run quota.",
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", parents=[common], help="make a key (printed once)")
    create.add_argument("name", help="who or what the key is for (recorded as the reviewer)")
    create.add_argument("--tenant", help="the owner of what the key creates (default: the key)")
    create.add_argument("--graph", dest="graphs", action="append", metavar="NAME",
                        help="a graph the key may use (repeat; default: every graph)")  # fmt: skip
    create.add_argument("--read-only", action="store_true", help="the key may only read")
    create.add_argument(
        "--max-concurrent", type=positive_int, metavar="N",
        help="runs at once (default: the server's SOPHIA_KEY_MAX_CONCURRENT_RUNS)",
    )  # fmt: skip
    create.add_argument(
        "--per-minute", type=positive_int, metavar="N",
        help="runs started per minute (default: the server's SOPHIA_KEY_RUNS_PER_MINUTE)",
    )  # fmt: skip
    create.add_argument("--json", action="store_true", help="print the key and its row as JSON")
    create.set_defaults(handler=main)

    listing = actions.add_parser("list", parents=[common], help="the keys (never the keys)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=main)

    revoke = actions.add_parser("revoke", parents=[common], help="revoke a key by its id")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the id `sophia keys list` shows")
    revoke.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run one ``keys`` action; 0 when done (errors are raised for the CLI to print)."""
    import asyncio

    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    import asyncio

    from graphs.cli.output import CommandError, print_copyable, print_json, stdout_console
    from graphs.durable.store import open_durable
    from stores.settings import Settings

    out = stdout_console()
    settings = await asyncio.to_thread(Settings().with_absolute_paths)
    async with open_durable(settings) as durable:
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
                print_json({"key": key, **record.public()})
                return 0
            out.print(f"key {record.key_id} for {record.name} (tenant {record.tenant}):",
                      markup=False)  # fmt: skip
            print_copyable(out, key)
            out.print("Store it now: it is not shown again.", style="yellow")
            return 0
        if args.keys_command == "list":
            rows = [k.public() for k in await store.list(include_revoked=args.all)]
            if args.json:
                print_json(rows)
            else:
                out.print(_table(rows))
            return 0
        if not await store.revoke(args.key_id):
            raise CommandError(
                f"no active key with id {args.key_id}; `sophia keys list` shows the ids"
            )
        out.print(f"revoked {args.key_id}", markup=False)
        return 0


def _table(rows: list[dict[str, Any]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="API keys", box=None, padding=(0, 1))
    for column in ("id", "prefix", "name", "tenant", "graphs", "access", "quotas", "created",
                   "revoked"):  # fmt: skip
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
