"""Engine settings, read from ``SOPHIA_*`` environment variables or given explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stores.resilience.budget import (
    DEFAULT_ACQUIRE_TIMEOUT_S,
    DEFAULT_ATTEMPT_TIMEOUT_S,
    DEFAULT_ATTEMPTS,
    DEFAULT_NODE_TIMEOUT_S,
    DEFAULT_QUERY_TIMEOUT_S,
    StatementBudget,
)


class Settings(BaseSettings):
    """Everything the engine can be configured with.

    Every field can be set from the environment as ``SOPHIA_<FIELD>`` (upper case),
    e.g. ``SOPHIA_WAREHOUSE_URL`` or ``SOPHIA_REDIS_URL``. The OpenTelemetry exporter
    is configured by the standard ``OTEL_*`` variables instead.

    The statement timeouts must nest (`stores.resilience.budget`): query < warehouse
    attempt, and the warehouse guard's worst case < node. Settings that do not nest raise
    `ConfigurationError` naming them.
    """

    model_config = SettingsConfigDict(env_prefix="SOPHIA_", extra="ignore")

    data_dir: Path = Field(default=Path(".sophia"), description="Where local state lives.")
    warehouse_url: str | None = Field(
        default=None,
        description="duckdb:///path or snowflake://user:pass@account/db/schema?warehouse=WH; "
        "unset: duckdb under the data dir.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for the L2 cache; unset: L1 only."
    )
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=8, ge=1)
    pool_acquire_timeout_s: float = Field(
        default=DEFAULT_ACQUIRE_TIMEOUT_S,
        gt=0,
        description="Longest wait for a pooled connection (inside the warehouse attempt).",
    )
    query_timeout_s: float = Field(
        default=DEFAULT_QUERY_TIMEOUT_S,
        gt=0,
        description="Per-statement timeout; below the warehouse attempt timeout.",
    )
    warehouse_attempt_timeout_s: float = Field(
        default=DEFAULT_ATTEMPT_TIMEOUT_S,
        gt=0,
        description="The warehouse guard's per-attempt timeout (acquire + statement).",
    )
    warehouse_attempts: int = Field(
        default=DEFAULT_ATTEMPTS,
        ge=1,
        description="How many times one statement may run (the guard's retries, each on a "
        "fresh connection); the only retry layer of a statement.",
    )
    node_timeout_s: float = Field(
        default=DEFAULT_NODE_TIMEOUT_S,
        gt=0,
        description="Per-node timeout; above the warehouse guard's worst case.",
    )
    l1_max_entries: int = Field(default=10_000, ge=1)
    l1_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    gc_freeze: bool = Field(
        default=True,
        description="After opening, move the engine's long-lived objects (the memory index) "
        "out of the garbage collector's full passes, which otherwise pause 100+ ms.",
    )
    trace_file: bool = Field(
        default=True, description="Write spans as JSON lines under the data dir."
    )
    seed_scale: float = Field(default=1.0, gt=0, description="Multiplier on the demo data sizes.")
    postgres_url: str | None = Field(
        default=None,
        description="postgresql://user@host:5432/db for thread checkpoints; unset: SQLite "
        "under the data dir.",
    )
    checkpoint_db: str = Field(
        default="checkpoints.sqlite",
        description="The SQLite checkpoint file, relative to the data dir (or absolute); "
        "used when postgres_url is unset.",
    )

    store_embedder: Literal["hashing", "minilm"] = Field(
        default="hashing",
        description="The embedder of the LangGraph API's store (semantic search): the local "
        "hashing embedder, or all-MiniLM-L6-v2 (the optional minilm extra).",
    )
    store_distance: Literal["cosine", "l2", "inner_product"] = Field(
        default="cosine", description="How the store's vector search ranks items."
    )
    store_default_ttl_minutes: float | None = Field(
        default=None,
        gt=0,
        description="TTL of store items put without one; unset: they never expire.",
    )
    store_sweep_minutes: float = Field(
        default=5.0, gt=0, description="How often expired store items are deleted."
    )

    @model_validator(mode="after")
    def _timeouts_nest(self) -> Settings:
        self.statement_budget()
        return self

    def statement_budget(self) -> StatementBudget:
        """The statement's timeout budget of these settings (`ConfigurationError` if the
        timeouts do not nest)."""
        return StatementBudget(
            query_timeout_s=self.query_timeout_s,
            attempt_timeout_s=self.warehouse_attempt_timeout_s,
            attempts=self.warehouse_attempts,
            node_timeout_s=self.node_timeout_s,
        )

    @property
    def resolved_warehouse_url(self) -> str:
        """The warehouse URL, defaulting to a DuckDB file under the data dir.

        A relative data dir is taken from the current directory (one ``getcwd``): call
        :meth:`with_absolute_paths` off the event loop first where that matters.
        """
        if self.warehouse_url:
            return self.warehouse_url
        return f"duckdb:///{str((self.data_dir / 'warehouse.duckdb').absolute()).lstrip('/')}"

    def with_absolute_paths(self) -> Settings:
        """These settings with the data dir made absolute (self if it already is).

        Asks the OS for the current directory when the data dir is relative, so the
        engine calls it in a thread: nothing it does on the event loop touches the OS.
        """
        if self.data_dir.is_absolute():
            return self
        return self.model_copy(update={"data_dir": self.data_dir.absolute()})
