"""``sophia graphs``: the registered graphs and each input field's type, default and meaning.

Reads the registry only: the engine, the warehouse and the services stay closed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``graphs`` to the sub-command parsers `sub`."""
    parser = sub.add_parser(
        "graphs",
        parents=[common],
        help="list the graphs and their input fields",
        description="List the registered graphs; for each, its input fields with their "
        "type, default and meaning (what `sophia run GRAPH --input JSON` accepts).",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the graphs and their JSON Schemas as JSON"
    )
    parser.set_defaults(handler=main)


def schema_type(schema: dict[str, Any]) -> str:
    """A readable type of one JSON Schema property, with its bounds: ``integer, 1-100``."""
    if "anyOf" in schema:
        kind = " | ".join(schema_type(s) for s in schema["anyOf"])
    elif "enum" in schema:
        kind = " | ".join(json.dumps(v) for v in schema["enum"])
    elif "const" in schema:
        kind = json.dumps(schema["const"])
    elif schema.get("type") == "array":
        kind = f"array of {schema_type(schema.get('items') or {})}"
    elif "$ref" in schema:
        kind = str(schema["$ref"]).rsplit("/", 1)[-1]
    else:
        kind = str(schema.get("type", "any"))
    bounds = _bounds(schema)
    return f"{kind}, {bounds}" if bounds else kind


def _bounds(schema: dict[str, Any]) -> str:
    for low, high, unit in (
        ("minItems", "maxItems", " items"),
        ("minLength", "maxLength", " chars"),
        ("minimum", "maximum", ""),
    ):
        lo, hi = schema.get(low), schema.get(high)
        if lo is not None and hi is not None:
            return f"{lo}-{hi}{unit}"
        if lo is not None:
            return f">= {lo}{unit}"
        if hi is not None:
            return f"<= {hi}{unit}"
    return ""


def input_fields(input_model: Any) -> list[dict[str, Any]]:
    """Each field of a pydantic input model: name, type, required, default, description."""
    properties = input_model.model_json_schema().get("properties", {})
    fields = []
    for name, field in input_model.model_fields.items():
        key = field.alias or name
        required = field.is_required()
        fields.append(
            {
                "name": key,
                "type": schema_type(properties.get(key, {})),
                "required": required,
                "default": None if required else field.get_default(call_default_factory=True),
                "description": field.description or "",
            }
        )
    return fields


def main(args: argparse.Namespace) -> int:
    """Print the registered graphs (rich tables, or JSON with ``--json``)."""
    from graphs.workflows import default_registry

    graphs = [
        {
            "name": spec.name,
            "description": spec.description,
            "fields": input_fields(spec.input_model),
            "input_schema": spec.input_schema(),
        }
        for spec in default_registry()
    ]
    if args.json:
        from graphs.cli.output import print_json

        print_json(graphs)
        return 0
    _print(graphs)
    return 0


def _print(graphs: list[dict[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from graphs.cli.output import stdout_console

    console = stdout_console()
    for graph in graphs:
        console.print(f"[bold]{escape(graph['name'])}[/]  {escape(graph['description'])}")
        table = Table(box=None, padding=(0, 1), show_header=False)
        table.add_column("input field", no_wrap=True, style="cyan")
        table.add_column("type, default and meaning", ratio=1)
        for field in graph["fields"]:
            default = "required" if field["required"] else f"default {json.dumps(field['default'])}"
            text = f"[dim]{escape(field['type'])} · {escape(default)}[/]"
            if field["description"]:
                text += "\n" + escape(field["description"])
            table.add_row("  " + field["name"], text)
        console.print(table)
        console.print()
    console.print("Run one: `sophia run GRAPH --input JSON` (or `--deal ID` for deal_review).")
