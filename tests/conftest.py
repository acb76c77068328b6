"""Shared fixtures: a real redis-server per test session, unique key prefixes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stores.demo.local_redis import LocalRedis, RedisNotInstalledError

# Engines opened by tests must not freeze the collector's view of the test process (each
# open would pin whatever earlier tests left alive); one test checks the freeze itself.
os.environ.setdefault("SOPHIA_GC_FREEZE", "false")
# A first run builds the memory index inline in tests (no builder process outliving a
# test); tests/graphs/engine/test_memory_index.py asks for the background build itself.
os.environ.setdefault("SOPHIA_MEMORY_BUILD", "inline")


class RedisServer(LocalRedis):
    """A redis-server owned by the tests (can be stopped and started again on its port);
    the test is skipped, not failed, on a machine without redis-server."""

    def __init__(self, workdir: Path) -> None:
        try:
            super().__init__(workdir)
        except RedisNotInstalledError:
            pytest.skip("redis-server is not installed")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port for the whole test session."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def disposable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and restart."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix() -> str:
    """A key prefix unique to this test, so tests never see each other's keys."""
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def span_exporter() -> Iterator[Any]:
    """Spans of this test, captured by telemetry.configure() with an in-memory exporter.

    Tests must not call ``trace.set_tracer_provider`` themselves: the global provider is
    installed once per process by `telemetry.configure()` (a switchable one), and a test
    that installs its own would break every later test that traces.
    """
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import telemetry

    exporter = InMemorySpanExporter()
    tel = telemetry.configure(
        service_name="sophia-test",
        prometheus=False,
        span_processors_for_tests=[SimpleSpanProcessor(exporter)],
    )
    try:
        yield exporter
    finally:
        tel.shutdown()
