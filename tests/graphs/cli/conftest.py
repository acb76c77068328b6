"""Fixtures for CLI tests: the installed console script, run as a person runs it.

`sophia(...)` runs ``.venv/bin/sophia`` in a subprocess at 80 columns with only the
``SOPHIA_*`` variables the test gives (the rest of the environment is inherited), so
what it prints is what a person at a narrow terminal sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "sophia"
KEPT = {"SOPHIA_GC_FREEZE"}

Sophia = Callable[..., subprocess.CompletedProcess[str]]


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without SOPHIA_*/OTEL_* settings, plus `overrides`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("SOPHIA_") and k not in KEPT)
        and not k.startswith("OTEL_")
        and k not in ("COLUMNS", "LINES")
    }
    return {**env, "COLUMNS": "80", **overrides}


def run_sophia(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the console script with `args`; its exit status, stdout and stderr."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=clean_env(**(env or {})),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def sophia() -> Sophia:
    """`run_sophia`: the installed `sophia` in a subprocess at COLUMNS=80."""
    return run_sophia


@pytest.fixture
def cli_data_dir(tmp_path: Path, small_warehouse: Path) -> Path:
    """A data dir holding a copy of the small warehouse (no memory index)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(small_warehouse, data / "warehouse.duckdb")
    return data


@pytest.fixture
def project_dir(tmp_path: Path, small_warehouse: Path) -> Path:
    """A folder that is this project (its pyproject.toml names sophia-engine), with the
    small warehouse already in its `.sophia` data dir."""
    root = tmp_path / "project"
    (root / ".sophia").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "sophia-engine"\n')
    shutil.copy(small_warehouse, root / ".sophia" / "warehouse.duckdb")
    return root


def one_error_line(stderr: str) -> str:
    """The single line of a CLI error; fails the test if there is more, or a traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]
