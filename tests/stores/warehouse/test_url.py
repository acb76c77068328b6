"""Warehouse URLs: every form `parse_warehouse_url` accepts, and each one it refuses."""

from __future__ import annotations

import pytest

from stores.errors import ConfigurationError
from stores.warehouse.backends.url import WarehouseURL, parse_warehouse_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("duckdb:///var/data/warehouse.duckdb", "/var/data/warehouse.duckdb"),
        ("duckdb:////var/data/warehouse.duckdb", "/var/data/warehouse.duckdb"),
        ("duckdb:///tmp/my%20file.duckdb", "/tmp/my file.duckdb"),
        ("duckdb:///:memory:", ":memory:"),
        ("duckdb:///", ":memory:"),
        ("duckdb://", ":memory:"),
    ],
)
def test_duckdb_paths(url: str, path: str) -> None:
    parsed = parse_warehouse_url(url)
    assert parsed == WarehouseURL(scheme="duckdb", path=path, read_only=False)


@pytest.mark.parametrize(
    ("value", "read_only"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
     ("false", False), ("0", False), ("no", False), ("off", False), ("", False)],
)  # fmt: skip
def test_duckdb_read_only_flag(value: str, read_only: bool) -> None:
    parsed = parse_warehouse_url(f"duckdb:///w.duckdb?read_only={value}")
    assert parsed.read_only is read_only and parsed.path == "/w.duckdb"


def test_snowflake_with_every_parameter() -> None:
    url = (
        "snowflake://analyst:s3cret@xy12345.eu-west-1/SOPHIA/PUBLIC?warehouse=WH&role=R"
        "&host=127.0.0.1&port=8085&protocol=http&login_timeout=2.5&network_timeout=10"
        "&fakesnow_db_path=/tmp/fs"
    )
    parsed = parse_warehouse_url(url)
    assert (parsed.scheme, parsed.user, parsed.password) == ("snowflake", "analyst", "s3cret")
    assert (parsed.account, parsed.database, parsed.schema) == (
        "xy12345.eu-west-1",
        "SOPHIA",
        "PUBLIC",
    )
    assert parsed.options == {
        "warehouse": "WH",
        "role": "R",
        "host": "127.0.0.1",
        "port": "8085",
        "protocol": "http",
        "login_timeout": "2.5",
        "network_timeout": "10",
        "fakesnow_db_path": "/tmp/fs",
    }
    assert "s3cret" not in repr(parsed)


def test_snowflake_percent_encoding_and_no_password() -> None:
    parsed = parse_warehouse_url("snowflake://us%40er:p%40ss%2Fw%3Ard@acct/my%20db/sc")
    assert (parsed.user, parsed.password, parsed.database) == ("us@er", "p@ss/w:rd", "my db")
    bare = parse_warehouse_url("snowflake://analyst@acct/db/sc")
    assert bare.password == "" and bare.options == {}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:p@host/db", "unsupported warehouse URL scheme 'postgresql'"),
        ("/var/data/warehouse.duckdb", "unsupported warehouse URL scheme ''"),
        ("", "unsupported warehouse URL scheme ''"),
        ("duckdb://host/var/w.duckdb", "three slashes"),
        ("duckdb:///w.duckdb?threads=4", "unknown duckdb URL parameter(s) threads; known: "),
        ("duckdb:///w.duckdb?read_only=maybe", "read_only must be true or false, got 'maybe'"),
        ("snowflake://acct/db/sc", "snowflake://user:password@account/database/schema"),
        ("snowflake://u:p@acct/db", "snowflake://user:password@account/database/schema"),
        ("snowflake://u:p@acct/db/sc/extra", "snowflake://user:password@account/database/schema"),
        ("snowflake://u:p@/db/sc", "snowflake://user:password@account/database/schema"),
        ("snowflake://u:p@acct/db/sc?password=x", "unknown snowflake URL parameter(s) password"),
        ("snowflake://u:p@acct/db/sc?port=80a", "port must be 1-65535, got '80a'"),
        ("snowflake://u:p@acct/db/sc?port=70000", "port must be 1-65535"),
        ("snowflake://u:p@acct/db/sc?protocol=ftp", "protocol must be http or https"),
        ("snowflake://u:p@acct/db/sc?login_timeout=soon", "login_timeout must be a number"),
        ("snowflake://u:p@acct/db/sc?network_timeout=-1", "network_timeout must be a number"),
        ("snowflake://u:p@[acct/db/sc", "malformed warehouse URL"),
    ],
)
def test_refusals_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_warehouse_url(url)
    assert problem in str(info.value)


def test_a_refusal_never_shows_the_password() -> None:
    for url in ("duckdb://admin:hunter2@host/w.duckdb", "snowflake://u:hunter2@acct/db"):
        with pytest.raises(ConfigurationError) as info:
            parse_warehouse_url(url)
        assert "hunter2" not in str(info.value)
