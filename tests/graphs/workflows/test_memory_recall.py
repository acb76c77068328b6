"""The memory index built by the seed, recalled through the engine's graphs."""

from __future__ import annotations

import pytest

from graphs import Engine
from graphs.engine.errors import InvalidInputError
from graphs.seeding.memory import memory_path, seed_memory
from nodes.memory import RELEVANCE_FLOOR
from stores.demo import data as demo_data
from stores.demo import phrases
from stores.settings import Settings


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data dir with the SMALL demo warehouse and its memory index."""
    data = tmp_path_factory.mktemp("memory")
    demo_data.write_duckdb(data / "warehouse.duckdb", demo_data.generate(demo_data.SMALL))
    return Settings(data_dir=data, redis_url=None)


@pytest.fixture(scope="module")
def indexed(seeded: Settings) -> int:
    import asyncio

    return asyncio.run(seed_memory(seeded))


def test_seed_indexes_every_call_and_message(seeded: Settings, indexed: int) -> None:
    assert indexed == demo_data.SMALL.calls + demo_data.SMALL.messages
    assert (memory_path(seeded.data_dir) / "CURRENT").exists()


async def test_recall_finds_the_words_asked_for_within_one_company(
    seeded: Settings, indexed: int
) -> None:
    tables = demo_data.generate(demo_data.SMALL)
    calls = tables["gong_calls"].to_pylist()
    segments = tables["gong_transcripts"].to_pylist()
    name = phrases.COMPETITORS[0]
    competitor_calls = {s["call_id"] for s in segments if name in s["text"]}
    company = next(c["company_id"] for c in calls if c["call_id"] in competitor_calls)
    async with Engine(seeded) as engine:
        assert await engine.memory_ready(60)  # the index loads in the background
        result = await engine.invoke(
            "memory_recall",
            {"query": f"{name} price quote", "company_id": company, "limit": 3},
        )
    hits = result["memories"]
    assert hits, "nothing recalled"
    assert name.lower() in hits[0]["text"].lower()
    by_ref = {c["call_id"]: c for c in calls}
    assert all(by_ref[h["ref"]]["company_id"] == company for h in hits if h["source"] == "gong")
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


async def test_deal_review_recalls_its_companys_conversations(
    seeded: Settings, indexed: int
) -> None:
    """Recalled memories are the deal's own company's, speak of a risk, clear the floor,
    and none repeats another's text (they used to be the same generic line everywhere)."""
    tables = demo_data.generate(demo_data.SMALL)
    deals = {d["deal_id"]: d for d in tables["hubspot_deals"].to_pylist()}
    ids = [f"D-{i:05d}" for i in range(1, 21)]
    async with Engine(seeded) as engine:
        assert await engine.memory_ready(60)  # the index loads in the background
        result = await engine.invoke("deal_review", {"deal_ids": ids})
    deal_of_call = {c["call_id"]: c["deal_id"] for c in tables["gong_calls"].to_pylist()}
    recalled = {d: result["deals"][d]["memories"] for d in ids}
    assert sum(1 for hits in recalled.values() if hits) >= 3
    for deal_id, memories in recalled.items():
        company = deals[deal_id]["company_id"]
        texts = [hit["text"] for hit in memories]
        assert len(texts) == len(set(texts))
        for hit in memories:
            deal_of_hit = deal_of_call.get(hit["ref"], hit["deal_id"])
            assert deals[deal_of_hit]["company_id"] == company
            assert hit["risks"] and hit["score"] >= RELEVANCE_FLOOR
            assert hit["source"] in ("gong", "slack") and hit["at"]


async def test_source_filter_needs_valid_values(seeded: Settings, indexed: int) -> None:
    async with Engine(seeded) as engine:
        assert await engine.memory_ready(60)  # the index loads in the background
        with pytest.raises(InvalidInputError, match="source"):
            await engine.invoke("memory_recall", {"query": "x", "source": "email"})


async def test_missing_index_means_no_memories_not_an_error(settings: Settings) -> None:
    assert not (memory_path(settings.data_dir) / "CURRENT").exists()
    async with Engine(settings) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ["D-00001"]})
        recall = await engine.invoke("memory_recall", {"query": "pricing"})
    assert result["deals"]["D-00001"]["memories"] == [] and result["errors"] == []
    assert recall["memories"] == [] and recall["errors"] == []
