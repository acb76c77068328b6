"""`sophia serve` and `sophia stats` meet through the same settings, not a guessed port."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from stores.demo.local_redis import free_port
from tests.graphs.cli.conftest import SCRIPT, Sophia, clean_env, one_error_line
from tests.graphs.http_process import http_process


@pytest.mark.slow
def test_stats_finds_the_server_serve_started_from_the_same_settings(
    sophia: Sophia, cli_data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {"SOPHIA_DATA_DIR": str(cli_data_dir), "SOPHIA_SERVE_PORT": str(port)}
    ready = f"http://127.0.0.1:{port}/readyz"
    with http_process([str(SCRIPT), "serve"], ready, env=clean_env(**env), log=tmp_path / "log"):
        httpx.post(f"http://127.0.0.1:{port}/graphs/deal_review/invoke", json={}, timeout=60)

        shown = sophia("stats", env=env)  # no --url: the settings say where
        assert shown.returncode == 0, shown.stderr
        assert "run.deal_review" in shown.stdout and "Recent runs" in shown.stdout
        data = json.loads(sophia("stats", "--json", env=env).stdout)
        assert data["runs"]["totals"]["complete"] >= 1

        taken = sophia("serve", env=env)  # the same settings, while it runs
        assert taken.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in one_error_line(taken.stderr)


def test_stats_names_an_unreachable_server_in_one_line(sophia: Sophia) -> None:
    port = free_port()
    done = sophia("stats", env={"SOPHIA_SERVE_PORT": str(port)})
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert f"http://127.0.0.1:{port}/dashboard/data" in line and "sophia serve" in line


def test_stats_reads_a_wildcard_serve_host_on_loopback() -> None:
    from graphs.cli.stats import server_url
    from stores.settings import Settings

    assert server_url(Settings(serve_host="0.0.0.0", serve_port=8123)) == "http://127.0.0.1:8123"
    assert server_url(Settings(serve_host="::1", serve_port=9)) == "http://[::1]:9"
    assert server_url(Settings(serve_host="sophia.internal")).endswith(":8000")

