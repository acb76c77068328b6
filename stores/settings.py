"""Engine settings, read from ``SOPHIA_*`` environment variables or given explicitly.

The data dir resolves the same from any folder (see `Settings.locate_data_dir`): an
explicit ``SOPHIA_DATA_DIR``, else ``.sophia`` in the project root when run inside this
project, else the user's data directory. Resolving it touches the filesystem, so it
happens in `Settings.with_absolute_paths` (which the engine calls off the event loop),
never when a `Settings` is constructed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stores.errors import ConfigurationError
from stores.resilience.budget import (
    DEFAULT_ACQUIRE_TIMEOUT_S,
    DEFAULT_ATTEMPT_TIMEOUT_S,
    DEFAULT_ATTEMPTS,
    DEFAULT_NODE_TIMEOUT_S,
    DEFAULT_QUERY_TIMEOUT_S,
    StatementBudget,
)

PROJECT_NAME = "sophia-engine"
"""The distribution name in this project's pyproject.toml (how the project root is found)."""
DATA_DIR_NAME = ".sophia"
"""The data dir's name inside the project root."""
APP_NAME = "sophia"
"""The application's name in the user's data directory."""

DataDirOrigin = Literal["set", "project", "user"]


class Settings(BaseSettings):
    """Everything the engine can be configured with.

    Every field can be set from the environment as ``SOPHIA_<FIELD>`` (upper case),
    e.g. ``SOPHIA_WAREHOUSE_URL`` or ``SOPHIA_REDIS_URL``. The OpenTelemetry exporter
    is configured by the standard ``OTEL_*`` variables instead. Each field's description
    is the README's Configuration table (``python -m graphs.cli.settings_table``).

    The statement timeouts must nest (`stores.resilience.budget`): query < warehouse
    attempt, and the warehouse guard's worst case < node. Settings that do not nest raise
    `ConfigurationError` naming them.
    """

    model_config = SettingsConfigDict(env_prefix="SOPHIA_", extra="ignore")

    data_dir: Path = Field(
        default=Path(DATA_DIR_NAME),
        description="Local state: the embedded warehouse, memory index, checkpoints, trace "
        "file. Unset: `.sophia` in the project root when run inside this project (found "
        "from any subfolder), else the user's data directory (e.g. ~/.local/share/sophia).",
        json_schema_extra={"doc_default": "project root's `.sophia`, else the user data dir"},
    )
    warehouse_url: str | None = Field(
        default=None,
        description="`duckdb:///path` or `snowflake://user:pass@account/db/schema?warehouse=WH"
        "&role=R`; unset: `warehouse.duckdb` under the data dir (seeded on first use).",
    )
    redis_url: str | None = Field(
        default=None,
        description="`redis://host:6379/0` for the shared L2 cache; unset: L1 (in-process) only.",
    )
    pool_min_size: int = Field(
        default=1, ge=0, description="Warehouse pool: connections kept open."
    )
    pool_max_size: int = Field(default=8, ge=1, description="Warehouse pool: most connections.")
    pool_acquire_timeout_s: float = Field(
        default=DEFAULT_ACQUIRE_TIMEOUT_S,
        gt=0,
        description="Seconds to wait for a pooled connection before `PoolTimeoutError` "
        "(inside the warehouse attempt).",
    )
    query_timeout_s: float = Field(
        default=DEFAULT_QUERY_TIMEOUT_S,
        gt=0,
        description="Per-statement timeout in seconds (counts as a failure for the warehouse "
        "breaker); below the warehouse attempt timeout.",
    )
    warehouse_attempt_timeout_s: float = Field(
        default=DEFAULT_ATTEMPT_TIMEOUT_S,
        gt=0,
        description="The warehouse guard's per-attempt timeout in seconds (acquire + "
        "statement).",
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
        description="Per-node timeout in seconds, above the warehouse guard's worst case: a "
        "source that exceeds it leaves an error entry and the run completes without it.",
    )
    cache_load_lock_s: float = Field(
        default=5.0,
        ge=0,
        description="With `SOPHIA_REDIS_URL`: the TTL in seconds of the Redis lock a process "
        "takes on the warehouse rows its cache missed before loading them, so that the "
        "processes sharing Redis (API servers, workers) query each missing key once: the "
        "others wait for the rows to land in Redis, never longer than this, then load them "
        "themselves (a holder that died delays them at most this long). Keep it above a "
        "typical warehouse load; 0 turns the locks off (each process loads its own misses).",
    )
    l1_max_entries: int = Field(default=10_000, ge=1, description="L1 cache: most entries.")
    l1_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="L1 cache: most bytes (64 MiB)."
    )
    gc_freeze: bool = Field(
        default=True,
        description="After opening, move the engine's long-lived objects (the memory index) "
        "out of the garbage collector's full passes, which otherwise pause 100+ ms.",
    )
    trace_file: bool = Field(
        default=True,
        description="Write spans as JSON lines to `traces.jsonl` under the data dir, for "
        "`sophia trace` and the dashboard's waterfall.",
    )
    trace_statements: Literal["events", "spans"] = Field(
        default="events",
        description="How a node's own warehouse statements are traced: `events` (each a "
        "`db.query` event of the node's span, with the SQL, rows and duration, and totals "
        "on the span; a span each cost more than the statement's share of a review) or "
        "`spans` (each a CLIENT span of its own, as a statement several nodes share always "
        "is).",
    )
    memory_build: Literal["background", "inline"] = Field(
        default="background",
        description="How the first run on a fresh data dir builds the memory index: "
        "`background` (a process of its own; the run does not wait, its memory branch says "
        "the index is building) or `inline` (the run waits for it). `sophia seed` always "
        "builds it inline.",
    )
    seed_scale: float = Field(
        default=1.0,
        gt=0,
        description="Demo data size multiplier (1.0: 5,000 deals, 20,000 calls, 100,000 "
        "Slack messages).",
    )
    postgres_url: str | None = Field(
        default=None,
        description="`postgresql://user@host:5432/db` for thread checkpoints (durable runs); "
        "unset: SQLite under the data dir.",
    )
    checkpoint_db: str = Field(
        default="checkpoints.sqlite",
        description="The SQLite checkpoint file, relative to the data dir (or absolute); "
        "used when `SOPHIA_POSTGRES_URL` is unset.",
    )
    run_queue: Literal["none", "postgres"] = Field(
        default="none",
        description="Where background runs of the LangGraph API execute: `none` (in the "
        "`sophia serve` process that accepted them) or `postgres` (jobs on a durable "
        "procrastinate queue in `SOPHIA_POSTGRES_URL`, executed by `sophia worker` "
        "processes on any machine; needs `SOPHIA_REDIS_URL` for the runs' event streams).",
    )
    worker_concurrency: int = Field(
        default=8, ge=1, description="`sophia worker`: runs one worker executes at once."
    )
    run_max_attempts: int = Field(
        default=3,
        ge=1,
        description="How many workers may start a run (each one dying under it) before the "
        "run is dead-lettered: marked `failed` with the reason, not started again.",
    )
    worker_stalled_s: float = Field(
        default=15.0,
        ge=2,
        description="A worker whose heartbeat is older than this is dead: its runs go back "
        "on the queue and resume from their last checkpoint on another worker.",
    )
    serve_host: str = Field(
        default="127.0.0.1",
        description="The address `sophia serve` listens on and `sophia stats` reads from.",
    )
    serve_port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        description="The port `sophia serve` listens on and `sophia stats` reads from.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="The API key `sophia stats` sends to a `sophia serve` that requires one "
        "(`sophia keys create` makes keys); never printed.",
    )
    jaeger_ui: str | None = Field(
        default=None,
        description="Jaeger's UI, for trace links (`http://localhost:16686`); unset: port "
        "16686 on the OTLP endpoint's host when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.",
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

    @model_validator(mode="after")
    def _queue_has_its_services(self) -> Settings:
        if self.run_queue == "postgres":
            missing = [name for name, value in (("SOPHIA_POSTGRES_URL", self.postgres_url),
                       ("SOPHIA_REDIS_URL", self.redis_url)) if not value]  # fmt: skip
            if missing:
                raise ConfigurationError(
                    f"SOPHIA_RUN_QUEUE=postgres needs {' and '.join(missing)}: the queue, the "
                    "run records and cancellations live in Postgres, run events in Redis"
                )
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

        An unresolved data dir is resolved here (filesystem calls): call
        :meth:`with_absolute_paths` off the event loop first where that matters.
        """
        if self.warehouse_url:
            return self.warehouse_url
        data_dir = self.with_absolute_paths().data_dir
        return f"duckdb:///{str(data_dir / 'warehouse.duckdb').lstrip('/')}"

    def with_absolute_paths(self) -> Settings:
        """These settings with the data dir resolved to an absolute path (self if it is).

        Asks the OS for the current directory (and, for the default data dir, looks for
        the project root above it), so the engine calls it in a thread: nothing it does
        on the event loop touches the OS.
        """
        if "data_dir" in self.model_fields_set and self.data_dir.is_absolute():
            return self
        return self.model_copy(update={"data_dir": self.locate_data_dir()[0]})

    def locate_data_dir(self) -> tuple[Path, DataDirOrigin]:
        """The absolute data dir and where it came from.

        ``"set"``: given (``SOPHIA_DATA_DIR`` or ``Settings(data_dir=...)``; a relative
        path is taken from the current directory); ``"project"``: ``.sophia`` in the
        project root above the current directory; ``"user"``: the user's data directory.
        """
        if "data_dir" in self.model_fields_set:
            return self.data_dir.absolute(), "set"
        root = find_project_root(Path.cwd())
        if root is not None:
            return root / DATA_DIR_NAME, "project"
        import platformdirs

        return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)), "user"


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding this project (None outside it).

    A folder is the project root when its pyproject.toml names the ``sophia-engine``
    distribution, or its langgraph.json serves ``graphs/langgraph_entry.py``.
    """
    for folder in (start, *start.parents):
        if _is_project_root(folder):
            return folder
    return None


def _is_project_root(folder: Path) -> bool:
    import tomllib

    try:
        pyproject = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
        if (pyproject.get("project") or {}).get("name") == PROJECT_NAME:
            return True
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        pass
    try:
        config = json.loads((folder / "langgraph.json").read_text(encoding="utf-8"))
        graphs = config.get("graphs") if isinstance(config, dict) else None
        if isinstance(graphs, dict):
            return any("graphs/langgraph_entry.py" in str(target) for target in graphs.values())
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    return False
