"""Fixtures of the HTTP service's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from graphs.server.app import create_app
from stores.settings import Settings
from tests.graphs.server.app_support import serving


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `create_app(settings)`, its lifespan running, over ASGI."""
    async with serving(create_app(settings)) as c:
        yield c
