"""Issue 7 acceptance through the real Engine: the warehouse emulator fails or hangs.

The engine points at the emulator (the real Snowflake connector over HTTP to fakesnow)
holding the SMALL demo data, with its default resilience registry: the ``"warehouse"``
breaker opens after its threshold, then calls fail fast without reaching the emulator,
runs keep completing with error entries that name the breaker, and after the breaker's
wait a trial call closes it. No run is lost: every submitted run returns a result.

Timing is never asserted here (bench/resilience.py measures it); waits are bounded polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from stores.demo import data as demo_data
from stores.demo.emulator import WarehouseEmulator
from stores.resilience.breaker import BreakerState
from stores.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

OPEN_MESSAGE = "circuit breaker 'warehouse' is open"


@pytest.fixture(scope="module")
def demo_emulator() -> Iterator[WarehouseEmulator]:
    """An emulator with the SMALL demo data, fast latencies and a short client timeout."""
    with WarehouseEmulator(
        login_ms=20, query_ms=5, data=demo_data.generate(demo_data.SMALL), client_timeout_s=2.0
    ) as emu:
        yield emu


@pytest.fixture
def emu(demo_emulator: WarehouseEmulator) -> Iterator[WarehouseEmulator]:
    """The module's emulator, serving normally again after the test."""
    demo_emulator.recover()
    yield demo_emulator
    demo_emulator.recover()


def _settings(tmp_path: Path, emu: WarehouseEmulator) -> Settings:
    # A short statement timeout and warehouse attempt timeout keep a hung emulator from
    # costing 9 s per attempt; everything else is the default.
    return Settings(
        data_dir=tmp_path / "data",
        warehouse_url=emu.url,
        redis_url=None,
        query_timeout_s=0.5,
        warehouse_attempt_timeout_s=1.0,
        node_timeout_s=10.0,
        trace_file=False,
    )


def _deal(i: int) -> str:
    return f"D-{i:05d}"


class Ledger:
    """Every run submitted, and what came back: a result, or an exception (a loss)."""

    def __init__(self) -> None:
        self.submitted = 0
        self.results: list[dict[str, Any]] = []
        self.raised: list[BaseException] = []

    async def run(self, engine: Any, deal_id: str) -> dict[str, Any] | None:
        self.submitted += 1
        try:
            result: dict[str, Any] = await engine.invoke("deal_review", {"deal_ids": [deal_id]})
        except Exception as exc:
            self.raised.append(exc)
            return None
        self.results.append(result)
        return result


@pytest.mark.parametrize("mode", ["error", "hang"])
async def test_warehouse_outage_opens_the_breaker_fails_fast_and_recovers(
    tmp_path: Path, emu: WarehouseEmulator, mode: Literal["error", "hang"]
) -> None:
    from graphs.engine.engine import Engine

    ledger = Ledger()
    async with Engine(_settings(tmp_path, emu), configure_telemetry=False) as engine:
        assert engine.guards is not None
        guard = engine.guards.guard("warehouse")
        transitions: list[str] = []
        engine.guards.add_listener(
            lambda name, _old, new: transitions.append(new.value) if name == "warehouse" else None
        )
        first = await ledger.run(engine, _deal(1))
        assert first is not None and first["status"] == "complete" and first["errors"] == []

        # 1. The outage: runs of deals not cached yet reach the warehouse and fail.
        emu.fail(mode)
        next_deal = 2
        while guard.breaker.state is not BreakerState.OPEN:
            assert next_deal < 12, f"breaker still {guard.breaker.state} after 10 runs"
            result = await ledger.run(engine, _deal(next_deal))
            next_deal += 1
            assert result is not None and result["status"] == "partial" and result["errors"]
        assert transitions == ["open"]

        # 2. Open: concurrent runs fail fast, the emulator sees nothing, and the guarded
        #    function is not called (no new attempt), yet every run returns a result.
        # (the breaker's ``calls`` counts the calls it let through to the function)
        seen = (emu.logins, emu.statements, guard.breaker.stats()["calls"])
        batch = [_deal(i) for i in range(next_deal, next_deal + 8)]
        results = await asyncio.gather(*(ledger.run(engine, d) for d in batch))
        assert (emu.logins, emu.statements, guard.breaker.stats()["calls"]) == seen
        for result in results:
            assert result is not None and result["status"] == "partial"
            messages = [e["message"] for e in result["errors"]]
            assert messages and all(OPEN_MESSAGE in m for m in messages), messages
            assert {e["error"] for e in result["errors"]} == {"CircuitOpenError"}
        assert guard.breaker.stats()["rejections"] > 0

        # 3. The warehouse returns; after the breaker's wait a trial call closes it.
        emu.recover()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        probe = 30
        while guard.breaker.state is not BreakerState.CLOSED:
            assert loop.time() < deadline, guard.breaker.stats()
            await asyncio.sleep(0.2)
            await ledger.run(engine, _deal(probe))
            probe = 30 + (probe - 29) % 10
        assert transitions[-2:] == ["half_open", "closed"]
        healthy = await ledger.run(engine, _deal(40))
        assert healthy is not None and healthy["status"] == "complete" and healthy["errors"] == []
        assert healthy["deals"]

    # Nothing lost: every submitted run came back with a result, none raised.
    assert ledger.raised == []
    assert len(ledger.results) == ledger.submitted


async def test_runs_in_flight_when_the_warehouse_hangs_all_return(
    tmp_path: Path, emu: WarehouseEmulator
) -> None:
    """Twenty concurrent runs, the emulator hung under them, then recovered: none is lost,
    and each either completed or names what failed."""
    from graphs.engine.engine import Engine

    ledger = Ledger()
    async with Engine(_settings(tmp_path, emu), configure_telemetry=False) as engine:
        assert (await ledger.run(engine, _deal(1))) is not None  # warm-up

        async def outage() -> None:
            await asyncio.sleep(0.05)
            emu.fail("hang")
            await asyncio.sleep(1.5)
            emu.recover()

        runs = [ledger.run(engine, _deal(2 + i % 39)) for i in range(20)]
        results, _ = await asyncio.gather(asyncio.gather(*runs), outage())
        assert ledger.raised == [] and len(ledger.results) == ledger.submitted == 21
        for result in results:
            assert result is not None
            assert result["status"] in ("complete", "partial")
            assert (result["status"] == "partial") == bool(result["errors"])
            for error in result["errors"]:
                assert error["node"] and error["error"] and error["message"]
        # A statement abandoned on its timeout gives its connection back when the driver
        # returns (the emulator recovered): no connection is leaked, however long that takes.
        for _ in range(600):  # at most 60 s
            if engine.resources.warehouse.stats()["in_use"] == 0:
                break
            await asyncio.sleep(0.1)
        assert engine.resources.warehouse.stats()["in_use"] == 0
