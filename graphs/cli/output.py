"""The CLI's one output convention: rich text for people, JSON for machines, one-line errors.

- Data goes to stdout: readable by default (rich, sized to the terminal), JSON with
  ``--json`` (`print_json`). Progress and notes go to stderr, so ``--json`` output
  stays parseable.
- Anything a person copies (ids, URLs, commands) is printed on a line of its own with no
  wrapping or cropping (`print_copyable`), so a narrow terminal never breaks it.
- Errors are one line on stderr, ``error: <problem>; <what to do>`` (`error_line`), with
  exit status 2 for usage errors (what the command line asked for cannot be) and 1 for
  failures; a traceback only with ``--debug``.

Imported only after the arguments are parsed: ``sophia --help`` never pays for rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from graphs.durable.errors import CheckpointStoreError, NothingToResumeError, UnknownThreadError
from graphs.engine.errors import InvalidInputError, UnknownGraphError
from stores.errors import CircuitOpenError, ConfigurationError, SophiaError, WarehouseError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(SophiaError):
    """The command line asks for something that cannot be done as asked (exit status 2)."""


class CommandError(SophiaError):
    """A command could not do its work (exit status 1); the message says what to do."""


USAGE_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    UnknownGraphError,
    InvalidInputError,
    UnknownThreadError,
    NothingToResumeError,
)

_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (UnknownGraphError, "`sophia graphs` lists them"),
    (InvalidInputError, "`sophia graphs` shows each input field, its type and default"),
    (UnknownThreadError, "start one with `sophia run GRAPH --thread ID`"),
    (NothingToResumeError, "`sophia thread ID` shows its state"),
    (CircuitOpenError, "the dependency failed repeatedly; `sophia info` shows what is reachable"),
    (WarehouseError, "check SOPHIA_WAREHOUSE_URL; `sophia info` shows whether it is reachable"),
    (
        CheckpointStoreError,
        "check SOPHIA_POSTGRES_URL (or SOPHIA_CHECKPOINT_DB); `sophia info` shows the store",
    ),
)


def stdout_console() -> Console:
    """A console on stdout (rich decides colour and width from the terminal and COLUMNS)."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """A console on stderr, for progress and notes beside the data."""
    return Console(stderr=True, highlight=False)


def print_json(value: Any, *, compact: bool = False) -> None:
    """`value` as JSON on stdout, indented (or on one line: `compact`); never wrapped."""
    text = json.dumps(value, indent=None if compact else 2, default=str, ensure_ascii=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_copyable(console: Console, text: str, *, style: str | None = None) -> None:
    """`text` on a line of its own, neither wrapped nor cropped at the terminal's width."""
    console.print(text, style=style, soft_wrap=True, markup=False, highlight=False)


def line_printer(console: Console) -> Callable[[str], None]:
    """A progress callback that prints each message with `print_copyable` (messages
    name paths a person may copy)."""
    return lambda message: print_copyable(console, message)


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines too) made a single space."""
    return " ".join(str(text).split())


def exit_code(exc: BaseException) -> int:
    """2 for usage errors, 130 for an interrupt, 1 for everything else."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILURE


def settings_problems(exc: BaseException) -> list[str] | None:
    """``SOPHIA_<NAME>=value: what is wrong`` per invalid setting when `exc` is the
    settings model's validation error; None for any other exception."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    from stores.urls import redact_url

    def shown(value: Any) -> str:
        return repr(redact_url(value) if isinstance(value, str) and "://" in value else value)

    return [
        f"SOPHIA_{'.'.join(str(p) for p in err['loc']).upper()}={shown(err.get('input'))}: "
        f"{err['msg']}"
        for err in exc.errors()
    ]


def error_line(exc: BaseException) -> str:
    """The one line that describes `exc` to a person: the problem, then what to do."""
    problems = settings_problems(exc)
    if problems is not None:
        return (
            f"error: invalid setting {'; '.join(problems)}; fix the environment variable "
            "(the README's Configuration table lists each setting)"
        )
    if not isinstance(exc, SophiaError):
        return (
            f"error: unexpected {type(exc).__name__}: {one_line(str(exc)) or 'no message'}; "
            "this is a bug: rerun with --debug for the traceback and report it"
        )
    message = one_line(str(exc)) or type(exc).__name__
    hint = next((h for kind, h in _HINTS if isinstance(exc, kind)), None)
    if isinstance(exc, ConfigurationError) or hint is None or "`sophia" in message:
        return f"error: {message}"
    return f"error: {message}; {hint}"


def print_error(exc: BaseException) -> None:
    """Write `error_line(exc)` to stderr."""
    sys.stderr.write(error_line(exc) + "\n")
    sys.stderr.flush()
