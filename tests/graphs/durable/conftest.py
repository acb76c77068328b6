"""Fixtures of the durable-run tests: each runs on SQLite and on the local Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stores.settings import Settings
from tests.graphs.durable.durable_support import postgres_available, postgres_schema


@pytest.fixture(params=["sqlite", "postgres"])
def durable_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """`settings` with thread checkpoints on SQLite or on the local Postgres."""
    if request.param == "sqlite":
        yield settings
        return
    if not postgres_available():
        pytest.skip("no Postgres on 127.0.0.1:5432")
    with postgres_schema() as url:
        yield settings.model_copy(update={"postgres_url": url})
