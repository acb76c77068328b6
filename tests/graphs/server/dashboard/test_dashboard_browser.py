"""The real dashboard page in headless Chromium, against the HTTP service on loopback.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the Playwright Python package (no
downloaded browsers). Set SOPHIA_DASHBOARD_SCREENSHOT=path to save a screenshot taken
under load.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from stores.errors import SophiaError
from stores.settings import Settings
from tests.graphs.server.dashboard.dashboard_support import FLAKY, DashboardServer

CHROMIUM = os.environ.get("SOPHIA_CHROMIUM", "/usr/bin/chromium")
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (uv sync --dev)"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium",
    ),
]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Load:
    """A few clients posting deal reviews in a loop until stopped (bounded: `users`)."""

    def __init__(self, url: str, users: int = 3, flaky_every: int = 0) -> None:
        self.url = url
        self.flaky_every = flaky_every  # user 0 reviews with FLAKY every n-th request
        self.done = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._user, args=(i,)) for i in range(users)]

    def _user(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            i = 0
            while not self._stop.is_set():
                deal = f"D-{(n * 7 + i) % 20 + 1:05d}"
                flaky = n == 0 and self.flaky_every and i % self.flaky_every == 0
                graph = FLAKY if flaky else "deal_review"
                client.post(f"/graphs/{graph}/invoke", json={"deal_ids": [deal]})
                if self.flaky_every:
                    time.sleep(0.05)  # paced, so the runs table shows a mix
                self.done += 1
                i += 1

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


@pytest.fixture
def server(settings: Settings) -> Iterator[DashboardServer]:
    with DashboardServer(settings) as running:
        yield running


def _total(page: Any, status: str) -> int:
    text = page.locator(f'[data-total="{status}"]').inner_text()
    return int(text.split()[-1])


def _open_breaker(server: DashboardServer) -> None:
    assert server.engine is not None and server.engine.guards is not None
    breaker = server.engine.guards.breaker("warehouse")

    async def fail() -> None:
        raise ConnectionError("warehouse unreachable (injected)")

    # on a thread of its own: playwright's sync API keeps an event loop running on this one
    with ThreadPoolExecutor(1) as thread:
        for _ in range(30):
            try:
                thread.submit(asyncio.run, breaker.call(fail)).result()
            except (ConnectionError, SophiaError):
                pass


def test_dashboard_page_live_in_chromium(server: DashboardServer) -> None:
    errors: list[str] = []
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on(
                "console",
                lambda msg: (
                    errors.append(f"console: {msg.text} at {msg.location}")
                    if msg.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            with httpx.Client(base_url=server.url, timeout=60) as client:
                ok = client.post("/graphs/deal_review/invoke", json={"deal_ids": ["D-00001"]})
                assert ok.status_code == 200
                page.goto(f"{server.url}/dashboard")
                page.wait_for_selector('#live:text("live")', timeout=15_000)

                # The charts render: SVG plots with series, threshold lines, time axis.
                page.wait_for_selector(
                    '[data-operation="run.deal_review"] svg polyline', state="attached"
                )
                assert page.locator("#groups svg.plot").count() >= 4
                assert page.locator("#groups line.threshold").count() >= 4
                assert page.locator('[data-group="warehouse"] svg polyline').count() >= 1
                assert page.locator('[data-figure="utilisation"]').count() == 1
                assert page.locator('#cache-rows tr[data-namespace="queries"]').count() == 1
                assert page.locator("#redis").get_attribute("data-state") == "disabled"
                page.wait_for_function(
                    "() => document.querySelector('[data-total=\"complete\"]')"
                    ".textContent.endsWith(' 1')"
                )

                # The figures change as runs complete (under load).
                with Load(server.url) as load:
                    page.wait_for_function(
                        "() => parseInt(document.querySelector('[data-total=\"complete\"]')"
                        ".textContent.split(' ').pop()) >= 4",
                        timeout=60_000,
                    )
                    assert load.done >= 1
                    assert page.locator("#run-rows tr").count() >= 4
                assert _total(page, "complete") >= 4
                partial = client.post(f"/graphs/{FLAKY}/invoke", json={"deal_ids": ["D-00002"]})

                # A partial run shows its failed source, and its waterfall draws.
                assert partial.status_code == 200 and partial.json()["status"] == "partial"
                run_id = partial.json()["run_id"]
                row = page.locator(f'#run-rows tr[data-run="{run_id}"]')
                row.wait_for(timeout=15_000)
                assert row.get_attribute("data-status") == "partial"
                assert row.locator(".failed-sources .src").inner_text() == "slack"
                row.locator("a.trace-link").click()
                page.wait_for_selector("#waterfall svg rect.span-bar", timeout=15_000)
                assert page.locator("#waterfall svg rect.span-bar").count() >= 5
                assert page.locator("#waterfall svg text", has_text="✗").count() >= 1
                # Its slow failure breached the agent threshold: the chart marks it.
                page.wait_for_selector(
                    '[data-operation="node.slack"] circle.breach-mark', state="attached"
                )

                # A breaker opened by a fault shows as open.
                deadline = time.monotonic() + 30
                open_row = page.locator('#breaker-rows tr[data-breaker="warehouse"]')
                while open_row.get_attribute("data-state") != "open":
                    assert time.monotonic() < deadline, "the open breaker never showed as open"
                    _open_breaker(server)
                    page.wait_for_timeout(500)
                assert open_row.locator(".pill").inner_text() == "open"
                # ...and a run on a deal not cached yet (the load reviews D-00001..20) is
                # partial: its sources' warehouse calls are refused, which the page lists.
                _open_breaker(server)  # still open (re-opened if it went half-open)
                refused = client.post("/graphs/deal_review/invoke", json={"deal_ids": ["D-00033"]})
                assert refused.status_code == 200 and refused.json()["status"] == "partial"
                refused_row = page.locator(f'#run-rows tr[data-run="{refused.json()["run_id"]}"]')
                refused_row.wait_for(timeout=15_000)
                shown = set(refused_row.locator(".failed-sources .src").all_inner_texts())
                assert {"hubspot", "gong"} <= shown
                shot = os.environ.get("SOPHIA_DASHBOARD_SCREENSHOT")
                if shot:  # under load, with the open breaker and the waterfall on screen
                    with Load(server.url, users=2, flaky_every=4):
                        page.wait_for_timeout(3_000)
                        _open_breaker(server)
                        page.wait_for_timeout(2_000)
                        Path(shot).parent.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=shot, full_page=True)
            assert errors == []
        finally:
            browser.close()
