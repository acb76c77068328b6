"""What the engine hands every node: the shared resources, as LangGraph runtime context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stores.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from stores.cache.tiered import TieredCache
    from stores.memory.store import MemoryStore
    from stores.warehouse.warehouse import Warehouse


@dataclass
class Resources:
    """The engine's shared resources, opened once and passed to nodes as runtime context.

    Nodes read them as ``runtime.context.warehouse`` and so on. `cache`, `memory` and
    `llm` may be None when the engine runs without them; nodes must cope.
    """

    warehouse: Warehouse
    settings: Settings = field(default_factory=Settings)
    cache: TieredCache | None = None
    memory: MemoryStore | None = None
    llm: BaseChatModel | None = None
    guards: Any = None
