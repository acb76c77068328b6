"""Snowflake Cortex as the chat model and embedder: real SQL through the pooled warehouse
to the emulator (fakesnow behind the real connector), through breakers and the cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graphs import Engine
from stores.cache.tiered import TieredCache
from stores.demo import data as demo_data
from stores.demo.emulator import WarehouseEmulator
from stores.errors import ConfigurationError
from stores.llm.cortex import CortexChat, CortexError
from stores.llm.select import open_models, parse_model_setting
from stores.resilience.breaker import BreakerState
from stores.resilience.guards import ResilienceRegistry
from stores.settings import Settings
from stores.warehouse.warehouse import Warehouse

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
DEALS = [f"D-{i:05d}" for i in range(1, 13)]


@pytest.fixture(scope="module")
def emu() -> Iterator[WarehouseEmulator]:
    with WarehouseEmulator(login_ms=5, query_ms=2, data=demo_data.generate(demo_data.SMALL)) as e:
        yield e


def _settings(tmp_path: Path, emu: WarehouseEmulator, **more: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", warehouse_url=emu.url, redis_url=None, trace_file=False, **more
    )


async def test_complete_answers_through_the_warehouse_and_its_guard(emu: WarehouseEmulator) -> None:
    registry = ResilienceRegistry()
    async with Warehouse.open(emu.url) as wh:
        chat = CortexChat(
            model_name="mistral-large2", warehouse=wh, guard=registry.guard("llm:mistral-large2")
        )
        before = emu.statements
        message = await chat.ainvoke("Deal: Acme\n- budget frozen")
        assert emu.statements == before + 1
        with pytest.raises(CortexError, match="unknown model"):
            await CortexChat(model_name="nope", warehouse=wh).ainvoke("hello")
    assert str(message.content).startswith("[fake cortex mistral-large2")
    assert "budget frozen" in str(message.content)
    assert registry.guard("llm:mistral-large2").stats()["runs"] == 1


async def test_a_second_embed_of_the_same_text_is_a_cache_hit(emu: WarehouseEmulator) -> None:
    settings = Settings(embeddings="cortex:e5-base-v2", warehouse_url=emu.url)
    async with Warehouse.open(emu.url) as wh, TieredCache() as cache:
        models = open_models(settings, wh, cache, ResilienceRegistry())
        assert models.embeddings is not None and models.embedding_dims == 768
        before = emu.statements
        first = await models.embeddings.aembed_documents(["the budget is frozen", "legal is slow"])
        assert emu.statements == before + 1  # both texts in one statement
        again = await models.embeddings.aembed_documents(["legal is slow", "the budget is frozen"])
        assert emu.statements == before + 1  # served by the embeddings cache
    assert len(first[0]) == 768 and again == [first[1], first[0]]
    assert first[0] != first[1]


async def test_a_failing_complete_opens_the_breaker_and_the_review_completes(
    tmp_path: Path, emu: WarehouseEmulator
) -> None:
    async with Engine(_settings(tmp_path, emu, llm="cortex:no-such-model")) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": DEALS})
        assert engine.guards is not None
        breaker = engine.guards.breaker("llm:no-such-model")
        assert breaker.state == BreakerState.OPEN
    scored = [d for d in DEALS if result["deals"][d]["report"]["health_score"] is not None]
    assert len(scored) >= 8
    for deal_id in scored:
        report = result["deals"][deal_id]["report"]
        assert "summary_by" not in report and "health" in report["summary"]  # deterministic
    failures = [e for e in result["errors"] if e["node"] == "synthesis"]
    assert len(failures) == len(scored)
    assert any(e["error"] == "CircuitOpenError" for e in failures)  # later calls fail fast


async def test_a_configured_cortex_model_writes_the_summaries(
    tmp_path: Path, emu: WarehouseEmulator
) -> None:
    async with Engine(_settings(tmp_path, emu, llm="cortex:mistral-large2")) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": DEALS[:3]})
    assert result["errors"] == []
    for deal_id in DEALS[:3]:
        report = result["deals"][deal_id]["report"]
        if report["health_score"] is not None:
            assert report["summary"].startswith("[fake cortex mistral-large2")
            assert report["summary_by"] == "llm:mistral-large2"


async def test_cortex_needs_a_snowflake_warehouse(tmp_path: Path, small_duckdb: str) -> None:
    settings = Settings(data_dir=tmp_path, warehouse_url=small_duckdb, llm="cortex:mistral-large2")
    with pytest.raises(ConfigurationError, match="needs a Snowflake warehouse"):
        async with Engine(settings):
            pass


@pytest.mark.parametrize("value", ["openai:gpt-4o", "cortex:", "mistral-large2"])
def test_a_model_setting_names_the_expected_form(value: str) -> None:
    with pytest.raises(ConfigurationError, match="expected <provider>:<model>"):
        parse_model_setting("llm", value)


@pytest.fixture
def small_duckdb(tmp_path: Path) -> str:
    path = tmp_path / "small.duckdb"
    demo_data.write_duckdb(path, demo_data.generate(demo_data.SMALL))
    return f"duckdb:///{path}"
