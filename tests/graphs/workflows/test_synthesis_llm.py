"""Synthesis with a chat model: calls run concurrently within a bound, each guarded."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from graphs import Engine
from nodes.synthesis import LLM_CONCURRENCY
from stores.settings import Settings


class SlowFakeChat(BaseChatModel):
    """A fake LLM (the edge of the world): answers after a pause, counting overlap."""

    model_name: str = "slow-fake"
    active: int = 0
    peak: int = 0

    @property
    def _llm_type(self) -> str:
        return "slow-fake"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise NotImplementedError

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.05)
        self.active -= 1
        text = f"[fake slow-fake] {str(messages[-1].content).splitlines()[1]}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


async def test_llm_summaries_run_concurrently_within_the_bound_and_guarded(
    settings: Settings,
) -> None:
    llm = SlowFakeChat()
    ids = [f"D-{i:05d}" for i in range(1, 13)]
    async with Engine(settings, llm=llm) as engine:
        result = await engine.invoke("deal_review", {"deal_ids": ids})
        assert engine.guards is not None
        guarded = engine.guards.guard("llm:slow-fake").stats()
    scored = [d for d in ids if result["deals"][d]["report"]["health_score"] is not None]
    assert 1 < llm.peak <= LLM_CONCURRENCY
    assert guarded["runs"] == len(scored)
    for deal_id in scored:
        report = result["deals"][deal_id]["report"]
        assert report["summary"].startswith("[fake slow-fake]")
        assert report["summary_by"] == "llm:slow-fake"
