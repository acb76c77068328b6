"""`sophia thread` / `sophia resume`: the CLI side of human approval."""

from __future__ import annotations

import argparse
import json

import pytest

from graphs.cli.threads import add_commands, run_command
from graphs.engine.engine import Engine
from stores.settings import Settings

AT_RISK = "D-00003"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sophia")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def test_thread_and_resume_with_a_decision(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Engine(settings, configure_telemetry=False) as engine:
        paused = await engine.invoke(
            "deal_review", {"deal_ids": [AT_RISK], "require_approval": True}, thread_id="cli-1"
        )
    assert paused["status"] == "interrupted"
    capsys.readouterr()

    assert await run_command(parse(["thread", "cli-1", "--json"]), settings) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["next"] == ["synthesis"]
    assert list(shown["interrupts"][0]["value"]["deals"]) == [AT_RISK]

    argv = ["resume", "cli-1", "--decision", "reject", "--note", "no budget", "--json"]
    assert await run_command(parse(argv), settings) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "complete"
    approval = result["deals"][AT_RISK]["report"]["approval"]
    assert approval == {"decision": "reject", "note": "no budget", "reviewer": None}

    # finished: nothing to resume; unknown threads are named
    assert await run_command(parse(["resume", "cli-1", "--decision", "approve"]), settings) == 1
    assert "nothing to resume" in capsys.readouterr().err
    assert await run_command(parse(["thread", "nope"]), settings) == 1
    assert "unknown thread 'nope'" in capsys.readouterr().err
