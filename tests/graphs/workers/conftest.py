"""Fixtures of the worker tests: a cluster on the local Postgres and a private Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RedisServer
from tests.graphs.durable.durable_support import postgres_available, postgres_schema
from tests.graphs.workers.cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path, disposable_redis: RedisServer) -> Iterator[Cluster]:
    """A `Cluster` on a schema of its own in the local Postgres and a private Redis."""
    if not postgres_available():
        pytest.skip("no Postgres on 127.0.0.1:5432")
    with postgres_schema() as url, Cluster(tmp_path, url, disposable_redis.url) as made:
        yield made
