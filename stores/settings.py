"""Engine settings, read from ``SOPHIA_*`` environment variables or given explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the engine can be configured with.

    Every field can be set from the environment as ``SOPHIA_<FIELD>`` (upper case),
    e.g. ``SOPHIA_WAREHOUSE_URL`` or ``SOPHIA_REDIS_URL``. The OpenTelemetry exporter
    is configured by the standard ``OTEL_*`` variables instead.
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
    pool_acquire_timeout_s: float = Field(default=10.0, gt=0)
    query_timeout_s: float = Field(
        default=10.0, gt=0, description="Per-statement timeout; below the node timeout."
    )
    node_timeout_s: float = Field(default=20.0, gt=0)
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

    risk_taxonomy: Path | None = Field(
        default=None,
        description="A TOML risk taxonomy replacing the shipped nodes/risk_taxonomy.toml "
        "(risk keys, descriptions, examples and word lists the deal review listens for).",
    )
    llm: str | None = Field(
        default=None,
        description="The chat model that writes deal summaries: cortex:<model> (Snowflake "
        "Cortex COMPLETE through the warehouse, e.g. cortex:mistral-large2); unset: the "
        "deterministic summary.",
    )
    embeddings: str | None = Field(
        default=None,
        description="The embedder of the memory store: cortex:<model> (Snowflake Cortex "
        "EMBED_TEXT_768/1024, e.g. cortex:e5-base-v2; the memory index must be built with "
        "it); unset: the local hashing embedder.",
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
