"""The README's Configuration table is the settings model, and names every SOPHIA_* setting."""

from __future__ import annotations

import re
from pathlib import Path

from graphs.cli import settings_table
from stores.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_the_readme_table_matches_the_settings_model() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table.table_in(readme) == settings_table.markdown(), (
        "README's Configuration table is out of date: "
        "uv run python -m graphs.cli.settings_table --write"
    )


def test_every_setting_is_a_row_with_a_type_default_and_meaning() -> None:
    rows = {variable.strip("`"): rest for variable, *rest in settings_table.rows()}
    every = {f"SOPHIA_{n.upper()}" for m in settings_table.models() for n in m.model_fields}
    assert set(rows) == every
    assert {f"SOPHIA_{name.upper()}" for name in Settings.model_fields} <= every
    for variable, (kind, default, meaning) in rows.items():
        assert kind and default and meaning, variable
    assert rows["SOPHIA_TRACE_FILE"][:2] == ["boolean", "`true`"]
    assert rows["SOPHIA_REDIS_URL"][:2] == ["string", "unset"]
    assert rows["SOPHIA_SERVE_PORT"][:2] == ["integer", "`8000`"]


def test_every_sophia_variable_the_code_names_is_a_setting() -> None:
    named = set()
    for package in ("graphs", "nodes", "stores", "telemetry"):
        for path in (ROOT / package).rglob("*.py"):
            named |= set(re.findall(r"\bSOPHIA_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    documented = {
        f"SOPHIA_{name.upper()}"
        for model in settings_table.models()
        for name in model.model_fields
    }
    assert named - documented == set()
    assert {"SOPHIA_TRACE_FILE", "SOPHIA_CHECKPOINT_DB", "SOPHIA_JAEGER_UI"} <= documented


def test_a_stale_table_is_rewritten() -> None:
    stale = f"intro\n{settings_table.BEGIN}\n| old |\n{settings_table.END}\noutro\n"
    assert settings_table.rewrite(stale) == f"intro\n{settings_table.markdown()}\noutro\n"
