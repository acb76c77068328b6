"""`redact_url`: the one way a connection URL is shown without its secrets."""

from __future__ import annotations

import pytest

from stores.urls import UNPARSEABLE, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "snowflake://analyst:s3cret@acct/DB/SC?warehouse=WH&role=R",
            "snowflake://analyst:***@acct/DB/SC?warehouse=WH&role=R",
        ),
        ("redis://:s3cret@cache.internal:6379/0", "redis://:***@cache.internal:6379/0"),
        ("rediss://default:s3cret@cache:6380", "rediss://default:***@cache:6380"),
        (
            "postgresql://sophia:s3cret@db:5432/sophia?sslmode=require",
            "postgresql://sophia:***@db:5432/sophia?sslmode=require",
        ),
        ("postgresql://db/sophia?user=me&password=s3cret", "postgresql://db/sophia?user=me&password=***"),
        ("https://api.example.com/v1?token=s3cret&x=1", "https://api.example.com/v1?token=***&x=1"),
        ("snowflake://me:p%40ss%2Fw@acct/db/sc", "snowflake://me:***@acct/db/sc"),
        ("snowflake://me:p@ss@acct/db/sc", "snowflake://me:***@acct/db/sc"),  # unencoded @
    ],
)
def test_secrets_are_masked_and_the_rest_kept(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url) and "p@ss" not in redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "duckdb:///var/data/warehouse.duckdb?read_only=true",
        "duckdb:///:memory:",
        "redis://localhost:6379/0",
        "redis://user@localhost:6379/0",  # a user name alone is no secret
        "postgresql://db/sophia?sslmode=require",
    ],
)
def test_urls_without_secrets_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://sophia:pa/ss@db/sophia",  # an unencoded "/" cuts the password short
        "snowflake://me:s3cret@[acct/db/sc",
    ],
)
def test_a_url_that_cannot_be_taken_apart_is_not_echoed(url: str) -> None:
    assert redact_url(url) == UNPARSEABLE
