"""`sophia info`: where everything is, with secrets hidden, and what answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stores.demo.local_redis import free_port
from tests.conftest import RedisServer
from tests.graphs.cli.conftest import Sophia


def test_info_shows_where_everything_is_without_secrets(
    sophia: Sophia, cli_data_dir: Path, redis_server: RedisServer
) -> None:
    down = free_port()
    env = {
        "SOPHIA_DATA_DIR": str(cli_data_dir),
        "SOPHIA_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "SOPHIA_POSTGRES_URL": f"postgresql://sophia:hunter2@127.0.0.1:{down}/test",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{down}",
        "SOPHIA_JAEGER_UI": f"http://127.0.0.1:{down}",
        "SOPHIA_SERVE_PORT": str(down),
    }
    done = sophia("info", "--json", env=env)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert "hunter2" not in done.stdout
    assert info["data_dir"]["where"] == str(cli_data_dir)
    assert info["data_dir"]["detail"] == "from SOPHIA_DATA_DIR"
    assert info["warehouse"]["state"] == "ok"
    assert info["warehouse"]["where"] == f"duckdb:///{str(cli_data_dir).lstrip('/')}/warehouse.duckdb"
    assert info["redis"]["state"] == "ok"
    assert info["checkpoints"]["where"] == f"postgresql://sophia:***@127.0.0.1:{down}/test"
    assert info["checkpoints"]["state"] == "unreachable"
    assert info["memory_index"]["state"] == "missing"
    assert info["run_queue"]["state"] == "off"  # runs execute in `sophia serve`
    on = sophia("info", "--json", env={**env, "SOPHIA_RUN_QUEUE": "postgres"})
    queued = json.loads(on.stdout)
    assert queued["run_queue"]["state"] == "on" and "sophia worker" in queued["run_queue"]["detail"]
    assert info["span_file"]["where"] == str(cli_data_dir / "traces.jsonl")
    for name in ("otlp_endpoint", "jaeger_ui"):
        assert info[name]["state"] == "unreachable", name
    assert info["server"] == {
        "name": "server",
        "where": f"http://127.0.0.1:{down}",
        "state": "not running",
        "detail": "`sophia serve` listens here with these settings",
    }
    text = sophia("info", env=env)
    assert text.returncode == 0 and "hunter2" not in text.stdout
    assert f"  postgresql://sophia:***@127.0.0.1:{down}/test" in text.stdout.splitlines()


def test_outside_the_project_the_data_dir_is_the_users(sophia: Sophia, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    info = json.loads(sophia("info", "--json", env=env, cwd=elsewhere).stdout)
    assert info["data_dir"]["where"] == str(tmp_path / "xdg" / "sophia")
    assert "user data dir" in info["data_dir"]["detail"]


def test_inside_the_project_it_is_the_project_roots(sophia: Sophia, project_dir: Path) -> None:
    below = project_dir / "a" / "b"
    below.mkdir(parents=True)
    info = json.loads(sophia("info", "--json", cwd=below).stdout)
    assert info["data_dir"]["where"] == str(project_dir / ".sophia")
    assert info["warehouse"]["state"] == "ok"




def test_a_build_that_ends_while_info_looks_is_reported_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphs.cli import info
    from graphs.seeding import memory_build

    memory = tmp_path / "memory"
    memory.mkdir()

    def builder_finishes(data_dir: Path) -> None:  # it publishes, then removes its status
        (memory / "CURRENT").write_text("snap-1")
        return None

    monkeypatch.setattr(memory_build, "read_status", builder_finishes)
    item = info._memory_item(tmp_path, memory)
    assert item.state == "ok", item
