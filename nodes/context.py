"""What the engine hands every node: the shared resources, as LangGraph runtime context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from stores.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from nodes.risk_detector import RiskDetector
    from stores.cache.tiered import TieredCache
    from stores.memory.store import MemoryStore
    from stores.warehouse.warehouse import Warehouse


class MemoryAccess(Protocol):
    """The memory index as nodes see it: the store once it is ready, and its status."""

    @property
    def store(self) -> MemoryStore | None:
        """The loaded store, or None while it loads, is built, or is absent."""
        ...

    def status(self) -> dict[str, Any]:
        """``{"state", "message", ...}``: why `store` is None (or that it is ready)."""
        ...


@dataclass
class Resources:
    """The engine's shared resources, opened once and passed to nodes as runtime context.

    Nodes read them as ``runtime.context.warehouse`` and so on. `cache`, `memory` and
    `llm` may be None when the engine runs without them; nodes must cope. `risks` is the
    deal risk detector (the engine loads it when it opens; `risk_detector()` loads the
    configured taxonomy on first use when it was not given).
    """

    warehouse: Warehouse
    settings: Settings = field(default_factory=Settings)
    cache: TieredCache | None = None
    memory: MemoryAccess | None = None
    llm: BaseChatModel | None = None
    guards: Any = None
    risks: RiskDetector | None = None

    def risk_detector(self) -> RiskDetector:
        """The risk detector: `risks`, or one loaded now from ``settings.risk_taxonomy``."""
        if self.risks is None:
            from nodes.risk_detector import load_detector

            self.risks = load_detector(self.settings.risk_taxonomy)
        return self.risks
