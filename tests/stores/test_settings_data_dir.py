"""The data dir resolves the same from any folder, and never on construction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stores.settings import Settings, find_project_root


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No SOPHIA_DATA_DIR, the user data dir under tmp_path, cwd outside any project."""
    monkeypatch.delenv("SOPHIA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    where = tmp_path / "elsewhere"
    where.mkdir()
    monkeypatch.chdir(where)
    return where


def test_explicit_data_dir_wins_and_a_relative_one_is_from_the_cwd(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPHIA_DATA_DIR", "state")
    assert Settings().locate_data_dir() == (outside / "state", "set")
    assert Settings(data_dir=outside / "x").with_absolute_paths().data_dir == outside / "x"


def test_inside_the_project_it_is_the_roots_dot_sophia_from_any_subfolder(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (outside / "pyproject.toml").write_text('[project]\nname = "sophia-engine"\n')
    deep = outside / "docs" / "notes"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    settings = Settings().with_absolute_paths()
    assert settings.data_dir == outside / ".sophia"
    assert settings.locate_data_dir() == (outside / ".sophia", "set")  # resolved: stays
    assert settings.resolved_warehouse_url == f"duckdb:///{str(outside).lstrip('/')}/.sophia/warehouse.duckdb"


def test_a_langgraph_json_serving_our_graphs_marks_the_root(outside: Path) -> None:
    graphs = {"graphs": {"deal_review": "./graphs/langgraph_entry.py:deal_review"}}
    (outside / "langgraph.json").write_text(json.dumps(graphs))
    assert find_project_root(outside / "sub") == outside
    (outside / "langgraph.json").write_text(json.dumps({"graphs": {"x": "./other.py:x"}}))
    assert find_project_root(outside) is None


def test_another_projects_pyproject_is_not_ours(outside: Path) -> None:
    (outside / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    assert find_project_root(outside) is None
    (outside / "pyproject.toml").write_text("not toml [")
    assert find_project_root(outside) is None


def test_outside_the_project_it_is_the_user_data_dir(outside: Path, tmp_path: Path) -> None:
    assert Settings().locate_data_dir() == (tmp_path / "xdg" / "sophia", "user")


def test_construction_touches_no_filesystem(outside: Path) -> None:
    settings = Settings()
    assert "data_dir" not in settings.model_fields_set  # resolved only when asked
