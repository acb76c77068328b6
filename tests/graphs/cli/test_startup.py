"""The CLI parses before it imports: help and argument errors never import the engine.

Checked from the modules the console script imports (``-X importtime`` through
PYTHONPROFILEIMPORTTIME), not from a clock: the time it saves is measured in bench/.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.graphs.cli.conftest import SCRIPT, clean_env, one_error_line

HEAVY = (
    "langgraph",
    "langchain_core",
    "graphs.engine.engine",
    "graphs.workflows",
    "graphs.server",
    "uvicorn",
)  # graphs.engine.errors (a few classes) is not the engine
# help and argparse errors need neither rich nor the settings model (pydantic-settings
# alone costs several interpreter starts)
NOT_FOR_HELP = (*HEAVY, "rich", "stores", "pydantic", "httpx")


def imported_modules(*args: str, cwd: Path | None = None) -> tuple[int, set[str], str]:
    """Run the console script with `args`; its exit status, every module it imported,
    and its stderr without the import-time lines."""
    done = subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=clean_env(PYTHONPROFILEIMPORTTIME="1"),
        cwd=cwd,
        timeout=300,
        check=False,
    )
    modules, rest = set(), []
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name != "package":
                modules.add(name)
        else:
            rest.append(line)
    return done.returncode, modules, "\n".join(rest)


def roots(modules: set[str], banned: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == b or m.startswith(b + ".") for b in banned)}


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["graphs", "--help"],
        ["resume", "--help"],
        ["serve", "--help"],
        ["stats", "--help"],
        ["info", "--help"],
        ["emulator", "--help"],
    ],
)
def test_help_imports_neither_the_engine_nor_rich(argv: list[str]) -> None:
    code, modules, _ = imported_modules(*argv)
    assert code == 0
    assert "graphs.cli.main" in modules  # the check sees the script's imports
    assert roots(modules, NOT_FOR_HELP) == set()


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["resume", "t-1", "--decision", "maybe"],
        ["serve", "--workers", "0"],
        ["nope"],
    ],
)
def test_argument_errors_import_nothing_heavy(argv: list[str]) -> None:
    code, modules, stderr = imported_modules(*argv)
    assert code == 2
    one_error_line(stderr)
    assert roots(modules, NOT_FOR_HELP) == set()


def test_bad_input_is_refused_before_langgraph_is_imported() -> None:
    code, modules, stderr = imported_modules("run", "deal_review", "--input", "{nope")
    assert code == 2
    assert "--input is not valid JSON" in one_error_line(stderr)
    assert roots(modules, HEAVY) == set()


def test_serve_on_a_taken_port_fails_before_the_engine_is_imported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, modules, stderr = imported_modules("serve", "--port", str(port))
    assert code == 1
    line = one_error_line(stderr)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line
    assert roots(modules, HEAVY) == set()


def test_the_console_script_exits_through_script() -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == "sophia"]
    assert entry.value == "graphs.cli.main:script"


def test_script_freezes_the_heap_after_the_command_and_exits_with_its_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the interpreter's shutdown then skips the collector's passes over LangGraph's types
    from graphs.cli import main as cli_main

    calls: list[str] = []
    monkeypatch.setattr(cli_main, "main", lambda: calls.append("main") or 3)
    monkeypatch.setattr(cli_main.gc, "freeze", lambda: calls.append("freeze"))
    with pytest.raises(SystemExit) as exited:
        cli_main.script()
    assert exited.value.code == 3
    assert calls == ["main", "freeze"]
