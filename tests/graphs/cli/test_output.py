"""The output convention's pieces: error lines and exit codes, copyable lines, next steps."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from graphs.cli.graph_list import schema_type
from graphs.cli.output import (
    CommandError,
    UsageError,
    error_line,
    exit_code,
    print_copyable,
)
from graphs.cli.report import print_result, resume_commands, what_to_check
from graphs.durable.errors import CheckpointStoreUnavailableError
from graphs.engine.errors import InvalidInputError, UnknownGraphError
from stores.errors import WarehouseUnavailableError
from stores.settings import Settings


def test_usage_errors_exit_2_and_failures_exit_1() -> None:
    assert exit_code(UsageError("x")) == 2
    assert exit_code(UnknownGraphError("x", ["deal_review"])) == 2
    assert exit_code(InvalidInputError("g", ["a: b"])) == 2
    assert exit_code(CommandError("port taken")) == 1
    assert exit_code(WarehouseUnavailableError("down")) == 1
    assert exit_code(RuntimeError("bug")) == 1
    assert exit_code(KeyboardInterrupt()) == 130


def test_an_error_is_one_line_naming_what_to_do() -> None:
    line = error_line(WarehouseUnavailableError("cannot connect:\n  refused"))
    assert line == (
        "error: cannot connect: refused; check SOPHIA_WAREHOUSE_URL; `sophia info` shows "
        "whether it is reachable"
    )
    assert "SOPHIA_POSTGRES_URL" in error_line(CheckpointStoreUnavailableError("gone"))
    bug = error_line(KeyError("k"))
    assert bug.startswith("error: unexpected KeyError: 'k';") and "--debug" in bug
    assert "\n" not in bug


def test_copyable_text_is_never_wrapped_or_cropped() -> None:
    console = Console(width=40, record=True, force_terminal=False)
    url = "snowflake://fake:snow@emulator/SOPHIA/PUBLIC?host=127.0.0.1&port=8085&protocol=http"
    print_copyable(console, f"  export SOPHIA_WAREHOUSE_URL='{url}'")
    assert console.export_text() == f"  export SOPHIA_WAREHOUSE_URL='{url}'\n"


def test_a_paused_result_ends_with_its_resume_commands() -> None:
    paused = {
        "status": "interrupted",
        "run_id": "r" * 32,
        "thread_id": "review 1",
        "trace_id": "t" * 32,
        "errors": [],
        "deals": {"D-00003": {"report": None}},
        "interrupts": [
            {
                "id": "i",
                "value": {
                    "question": "Approve?",
                    "options": ["approve", "reject"],
                    "deals": {"D-00003": {"deal": "Acme", "health_score": 20, "reasons": ["x"]}},
                },
            }
        ],
    }
    console = Console(width=80, record=True)
    print_result(console, "deal_review", paused, settings=Settings(data_dir=Path("/d")))
    lines = console.export_text().splitlines()
    assert lines[-2:] == [
        "  sophia resume 'review 1' --decision approve",
        "  sophia resume 'review 1' --decision reject",
    ]
    assert "health None" not in console.export_text()
    assert resume_commands("other", paused)[0].endswith("--decision approve --graph other")


def test_each_failed_source_names_what_to_check() -> None:
    settings = Settings(
        data_dir=Path("/d"), warehouse_url="snowflake://u:secret@acct/db/s", node_timeout_s=25
    )
    failed = {"node": "gong", "error": "QueryError", "message": "boom", "timed_out": False}
    hint = what_to_check(failed, settings)
    assert "SOPHIA_WAREHOUSE_URL (snowflake://u:***@acct/db/s)" in hint and "secret" not in hint
    late = {**failed, "error": "TimeoutError", "timed_out": True}
    assert "SOPHIA_NODE_TIMEOUT_S (25 s)" in what_to_check(late, settings)
    breaker = {**failed, "error": "CircuitOpenError"}
    assert "breaker" in what_to_check(breaker, settings)
    memory = {"node": "memory", "error": "MemoryStoreError", "message": "x", "timed_out": False}
    assert "/d/memory" in what_to_check(memory, settings) and "sophia seed" in what_to_check(
        memory, settings
    )


def test_schema_types_read_as_types() -> None:
    assert schema_type({"type": "integer", "minimum": 1, "maximum": 100}) == "integer, 1-100"
    assert schema_type({"anyOf": [{"type": "string"}, {"type": "null"}]}) == "string | null"
    assert schema_type({"enum": ["gong", "slack"]}) == '"gong" | "slack"'
    assert (
        schema_type({"type": "array", "items": {"type": "string"}, "minItems": 1})
        == "array of string, >= 1 items"
    )
    assert schema_type({}) == "any"
