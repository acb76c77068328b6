"""``sophia keys`` and ``sophia stats``: keys made, listed and revoked from the command
line; server values shown as text, never as rich markup."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from graphs.cli import stats as stats_view
from graphs.cli.main import main
from stores.settings import Settings


def test_keys_create_list_revoke(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOPHIA_DATA_DIR", str(settings.data_dir))
    assert main(["keys", "create", "ana@example.com", "--graph", "deal_review",
                 "--read-only", "--per-minute", "5", "--json"]) == 0  # fmt: skip
    made = json.loads(capsys.readouterr().out)
    key = made.pop("key")
    assert key.startswith(f"sophia_{made['key_id']}_") and made["prefix"] in key
    assert made["graphs"] == ["deal_review"] and made["read_only"] is True
    assert made["runs_per_minute"] == 5 and made["tenant"] == made["key_id"]

    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["key_id"] for k in listed] == [made["key_id"]]
    assert key not in json.dumps(listed) and "secret_hash" not in listed[0]
    assert main(["keys", "list"]) == 0
    assert made["key_id"] in capsys.readouterr().out

    assert main(["keys", "revoke", made["key_id"]]) == 0
    assert f"revoked {made['key_id']}" in capsys.readouterr().out
    assert main(["keys", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["keys", "revoke", made["key_id"]]) == 1  # already revoked
    assert main(["keys", "create", " "]) == 1  # a key needs a name
    with pytest.raises(SystemExit) as usage:  # a bad argument is a usage error
        main(["keys", "create", "x", "--max-concurrent", "0"])
    assert usage.value.code == 2
    db = Path(settings.data_dir) / "checkpoints.sqlite"
    secret = key.split("_", 2)[2]  # sophia_<id>_<secret>; the secret may hold "_" itself
    assert len(secret) >= 40
    for path in db.parent.glob("checkpoints.sqlite*"):
        assert secret.encode() not in path.read_bytes()


def test_stats_shows_server_values_as_text_not_markup() -> None:
    hostile = "[/]"
    data = {
        "generated_at": time.time(),
        "groups": [{"id": "[bold]", "label": "x"}],
        "operations": [{"group": "[red]", "operation": hostile, "count": 1, "p50": 1.0,
                        "p95": 2.0, "p99": 3.0, "threshold_ms": 1.0, "breaches": 0}],
        "warehouse": {"size": "[/]", "max_size": 8},
        "cache": {"redis": {"state": "[/i]"},
                  "namespaces": [{"namespace": "[link=x]", "requests": 1, "hit_ratio": 1.0,
                                  "l1_hit_ratio": 1.0, "l2_hit_ratio": 0.0, "evictions": 0}]},
        "breakers": [{"name": hostile, "state": "[blink]", "state_changed_at": None}],
        "runs": {"totals": {"[/]": 1}, "recent": [{
            "finished_at": time.time(), "graph": hostile, "status": "[bold red]failed",
            "duration_ms": 5.0, "failed_sources": ["[/]slack"], "trace_id": "[/]",
        }]},
    }  # fmt: skip
    console = Console(record=True, width=200)
    console.print(stats_view.render(data))
    text = console.export_text()
    for shown in ("[/]", "[bold red]failed", "[/]slack", "[link=x]", "[blink]", "[/i]"):
        assert shown in text, shown

