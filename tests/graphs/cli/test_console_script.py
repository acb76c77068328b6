"""Issue 22's acceptance: the installed `sophia`, in a subprocess at 80 columns, as a person
uses it. Each test drives real parts: the small DuckDB warehouse, the SQLite checkpoint
store, the span file, the warehouse emulator (the real Snowflake connector over HTTP)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from stores.demo import data as demo_data
from stores.demo.emulator import WarehouseEmulator
from tests.graphs.cli.conftest import Sophia, one_error_line

AT_RISK = "D-00003"  # at risk in the SMALL dataset: a run asking for approval pauses
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("nope", "--input is not valid JSON"),
        ('{"deal_ids": ["D-00001"]', "--input is not valid JSON"),
        ('["D-00001"]', "--input must be a JSON object, not an array"),
        ('{"deal_ids": []}', "deal_ids"),
        ('{"deal_id": "D-00001"}', "deal_id"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    sophia: Sophia, cli_data_dir: Path, given: str, named: str
) -> None:
    env = {"SOPHIA_DATA_DIR": str(cli_data_dir)}
    done = sophia("run", "deal_review", "--input", given, env=env)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert named in line
    assert "sophia graphs" in line or "e.g. --input" in line  # what to do next
    assert done.stdout == ""


def test_usage_errors_are_one_line_and_exit_2(sophia: Sophia, cli_data_dir: Path) -> None:
    env = {"SOPHIA_DATA_DIR": str(cli_data_dir)}
    for argv, named in [
        (["resume", "t-1", "--decision", "maybe"], "invalid choice: 'maybe'"),
        (["run"], "GRAPH"),
        (["run", "deal_review", "--deal", "D-1", "--input", "{}"], "not allowed with"),
        (["serve", "--port", "70000"], "a port is 0-65535"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run", "deal_reveiw"], "unknown graph 'deal_reveiw'"),
    ]:
        done = sophia(*argv, env=env)
        assert done.returncode == 2, (argv, done.stderr)
        assert named in one_error_line(done.stderr), argv


def test_invalid_setting_is_one_line_and_debug_shows_the_traceback(
    sophia: Sophia, cli_data_dir: Path
) -> None:
    env = {"SOPHIA_DATA_DIR": str(cli_data_dir), "SOPHIA_POOL_MAX_SIZE": "lots"}
    done = sophia("info", env=env)
    assert done.returncode == 1
    assert "SOPHIA_POOL_MAX_SIZE='lots'" in one_error_line(done.stderr)
    debug = sophia("info", "--debug", env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_paused_run_names_the_resume_command_and_thread_resume_print_tables(
    sophia: Sophia, cli_data_dir: Path
) -> None:
    env = {"SOPHIA_DATA_DIR": str(cli_data_dir)}
    payload = json.dumps({"deal_ids": [AT_RISK], "require_approval": True})
    paused = sophia("run", "deal_review", "--thread", "t-1", "--input", payload, env=env)
    assert paused.returncode == 0, paused.stderr
    lines = paused.stdout.splitlines()
    assert "  sophia resume t-1 --decision approve" in lines
    assert "  sophia resume t-1 --decision reject" in lines
    assert "health None" not in paused.stdout and AT_RISK in paused.stdout

    shown = sophia("thread", "t-1", env=env)
    assert shown.returncode == 0, shown.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(shown.stdout)  # a table by default
    assert re.search(r"status\s+paused", shown.stdout)
    assert re.search(r"next\s+synthesis", shown.stdout)
    assert "  sophia resume t-1 --decision approve" in shown.stdout.splitlines()

    as_json = json.loads(sophia("thread", "t-1", "--json", env=env).stdout)
    assert as_json["status"] == "paused" and as_json["next"] == ["synthesis"]
    assert list(as_json["interrupts"][0]["value"]["deals"]) == [AT_RISK]

    undecided = sophia("resume", "t-1", env=env)
    assert undecided.returncode == 2
    assert "--decision approve" in one_error_line(undecided.stderr)

    resumed = sophia(
        "resume", "t-1", "--decision", "reject", "--note", "no budget", "--reviewer", "ana",
        env=env,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(resumed.stdout)
    assert "review reject by ana: no budget" in resumed.stdout
    assert re.search(r"status complete", resumed.stdout)
    assert "thread t-1" in resumed.stdout.splitlines()

    finished = sophia("resume", "t-1", "--decision", "approve", "--json", env=env)
    assert finished.returncode == 2
    assert "nothing to resume" in one_error_line(finished.stderr)
    assert finished.stdout == ""


def test_resume_json_prints_the_whole_result(sophia: Sophia, cli_data_dir: Path) -> None:
    env = {"SOPHIA_DATA_DIR": str(cli_data_dir)}
    payload = json.dumps({"deal_ids": [AT_RISK], "require_approval": True})
    paused = sophia("run", "deal_review", "--thread", "t-2", "--input", payload, "--json", env=env)
    assert json.loads(paused.stdout)["status"] == "interrupted"
    done = sophia("resume", "t-2", "--decision", "approve", "--json", env=env)
    result = json.loads(done.stdout)
    assert result["status"] == "complete" and result["thread_id"] == "t-2"
    assert result["deals"][AT_RISK]["report"]["approval"]["decision"] == "approve"


def test_unknown_thread_is_a_usage_error(sophia: Sophia, cli_data_dir: Path) -> None:
    done = sophia("thread", "nope", env={"SOPHIA_DATA_DIR": str(cli_data_dir)})
    assert done.returncode == 2
    assert "unknown thread 'nope'" in one_error_line(done.stderr)


@pytest.fixture(scope="module")
def slow_warehouse() -> Iterator[WarehouseEmulator]:
    """The SMALL demo data behind the emulator at 150 ms a statement: every warehouse
    query is over its 100 ms alert threshold, so every run has slow operations."""
    with WarehouseEmulator(
        login_ms=0, query_ms=150, data=demo_data.generate(demo_data.SMALL), database="CLI_SLOW"
    ) as emu:
        yield emu


def test_no_slow_operation_warning_on_a_default_run(
    sophia: Sophia, tmp_path: Path, slow_warehouse: WarehouseEmulator
) -> None:
    env = {"SOPHIA_DATA_DIR": str(tmp_path), "SOPHIA_WAREHOUSE_URL": slow_warehouse.url}
    quiet = sophia("run", "deal_review", env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "slow operation" not in quiet.stderr and "WARNING" not in quiet.stderr
    assert "status complete" in quiet.stdout
    shown = sophia("run", "deal_review", "-v", env=env)  # -v shows the operator's log
    assert shown.returncode == 0, shown.stderr
    assert "WARNING telemetry.monitoring: slow operation warehouse.snowflake.query" in shown.stderr


def test_a_failed_source_names_the_setting_to_check(
    sophia: Sophia, cli_data_dir: Path
) -> None:
    import duckdb

    with duckdb.connect(str(cli_data_dir / "warehouse.duckdb")) as conn:
        conn.execute("DROP TABLE slack_messages")
    done = sophia("run", "deal_review", env={"SOPHIA_DATA_DIR": str(cli_data_dir)})
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # as read, whatever the wrapping
    assert "✗ slack: UnknownIdentifierError" in text
    assert "check the warehouse at SOPHIA_WAREHOUSE_URL (duckdb:///" in text
    assert "status partial" in text
    assert done.stderr == ""  # the failure is in the result, not in a log line


def test_trace_from_another_directory_finds_the_last_run(
    sophia: Sophia, project_dir: Path
) -> None:
    ran = sophia("run", "deal_review", "--json", cwd=project_dir)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    below = project_dir / "reports" / "q3"
    below.mkdir(parents=True)

    drawn = sophia("trace", cwd=below)
    assert drawn.returncode == 0, drawn.stderr
    assert result["run_id"] in drawn.stdout and "hubspot" in drawn.stdout
    spans = json.loads(sophia("trace", result["run_id"], "--json", cwd=below).stdout)
    assert spans["trace_id"] == result["trace_id"]
    assert {"hubspot", "gong", "slack", "linear"} <= {
        s["attributes"].get("sophia.node") for s in spans["spans"]
    }
    # and no second demo warehouse was seeded below the project root
    assert not (below / ".sophia").exists()


def test_ids_and_commands_are_never_wrapped(sophia: Sophia, cli_data_dir: Path) -> None:
    done = sophia(
        "run", "deal_review", "--deal", "D-00001", "--deal", "D-00002",
        env={"SOPHIA_DATA_DIR": str(cli_data_dir)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    run_line = next(line for line in lines if line.startswith("run "))
    trace_line = next(line for line in lines if line.startswith("trace "))
    assert re.fullmatch(r"run\s+[0-9a-f]{32}", run_line)
    assert re.fullmatch(r"trace\s+[0-9a-f]{32}", trace_line)
    assert f"  sophia trace {run_line.split()[1]}" in lines
    assert "pipeline: 2 deals ranked by risk" in done.stdout  # several deals: one table


def test_graphs_shows_each_fields_type_default_and_meaning(sophia: Sophia, tmp_path: Path) -> None:
    done = sophia("graphs", env={"SOPHIA_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "any" not in done.stdout.split()
    text = " ".join(done.stdout.split())
    assert "deal_ids array of string, 1-1000 items · default []" in text
    assert "company_id string | null · default null Only this company's memories." in text
    assert 'source "gong" | "slack" | null · default null' in text
    fields = {
        g["name"]: {f["name"]: f for f in g["fields"]}
        for g in json.loads(sophia("graphs", "--json").stdout)
    }
    assert fields["memory_recall"]["limit"]["type"] == "integer, 1-100"
    assert fields["memory_recall"]["limit"]["default"] == 5
    assert fields["deal_review"]["require_approval"]["default"] is False
    assert not (tmp_path / "warehouse.duckdb").exists()  # nothing opened, nothing seeded
