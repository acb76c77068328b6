"""The emulator's Snowflake Cortex: ``SNOWFLAKE.CORTEX.COMPLETE`` and ``EMBED_TEXT_768/1024``.

fakesnow runs Snowflake SQL on DuckDB (sqlglot keeps ``SNOWFLAKE.CORTEX.COMPLETE(...)``
as a call to function ``COMPLETE`` in schema ``CORTEX`` of catalog ``SNOWFLAKE``). So the
emulator attaches an in-memory catalog ``SNOWFLAKE`` with schema ``CORTEX`` holding
macros of those names, each calling a Python function registered on fakesnow's DuckDB
connection (its sessions are cursors of that connection and see it):

- ``EMBED_TEXT_768(model, text)`` / ``EMBED_TEXT_1024(model, text)``: the local
  `HashingEmbeddings` of that width (a real vector of floats, deterministic);
- ``COMPLETE(model, prompt)``: a deterministic fake, named as one in its output
  (``"[fake cortex <model>] ..."``), which summarises the prompt's first lines.

Unknown model names are refused as Cortex refuses them (the statement fails with a
`ProgrammingError` naming the model), so a misconfigured model fails the way it would in
production. The check is in the macro: an exception raised inside a DuckDB Python
function would reach fakesnow's server as an unhandled error (HTTP 500, which the
connector retries as an outage), whereas a failed cast is a statement error.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from stores.llm.cortex import EMBED_WIDTHS
from stores.memory.embeddings import HashingEmbeddings

CHAT_MODELS = frozenset(
    {
        "claude-3-5-sonnet",
        "claude-4-sonnet",
        "deepseek-r1",
        "gemma-7b",
        "jamba-1.5-large",
        "jamba-1.5-mini",
        "jamba-instruct",
        "llama3-70b",
        "llama3-8b",
        "llama3.1-405b",
        "llama3.1-70b",
        "llama3.1-8b",
        "llama3.2-1b",
        "llama3.2-3b",
        "llama3.3-70b",
        "llama4-maverick",
        "mistral-7b",
        "mistral-large",
        "mistral-large2",
        "mixtral-8x7b",
        "openai-gpt-4.1",
        "reka-core",
        "reka-flash",
        "snowflake-arctic",
        "snowflake-llama-3.3-70b",
    }
)
EMBED_MODELS = {
    dims: frozenset(m for m, width in EMBED_WIDTHS.items() if width == dims) for dims in (768, 1024)
}
# function name, its arguments, the Python function it calls, the models it knows, result type
_FUNCTIONS = (
    ("COMPLETE", "model, prompt", "_sophia_cortex_complete", CHAT_MODELS, "VARCHAR"),
    ("EMBED_TEXT_768", "model, text", "_sophia_cortex_embed_768", EMBED_MODELS[768], "JSON"),
    ("EMBED_TEXT_1024", "model, text", "_sophia_cortex_embed_1024", EMBED_MODELS[1024], "JSON"),
)
_lock = threading.Lock()


def fake_complete(model: str, prompt: str) -> str:
    """A deterministic stand-in for an LLM's answer, marked as fake."""
    lines = [ln.strip() for ln in prompt.splitlines() if ln.strip()]
    subject = next(
        (ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("deal:")),
        lines[0][:80] if lines else "the request",
    )
    reasons = [ln[2:] for ln in lines if ln.startswith("- ")][:2]
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    said = "; ".join(reasons) if reasons else "no notable concerns in the facts given"
    return f"[fake cortex {model} {digest}] {subject}: {said}."


def _embedder(dims: int) -> Any:
    embedder = HashingEmbeddings(dims)

    def embed(model: str, text: str) -> str:
        # fakesnow types semi-structured values as JSON (a VECTOR arrives as an array)
        return json.dumps(embedder.embed_array([text or ""])[0].tolist())

    return embed


def register_cortex(duck: Any) -> None:
    """Create the ``SNOWFLAKE.CORTEX`` functions on fakesnow's DuckDB connection (once)."""
    with _lock:
        have = {
            r[0] for r in duck.execute("SELECT function_name FROM duckdb_functions()").fetchall()
        }
        if "_sophia_cortex_complete" not in have:
            duck.create_function(
                "_sophia_cortex_complete", fake_complete, ["VARCHAR", "VARCHAR"], "VARCHAR"
            )
            for dims in (768, 1024):
                duck.create_function(
                    f"_sophia_cortex_embed_{dims}", _embedder(dims), ["VARCHAR", "VARCHAR"], "JSON"
                )
        attached = {
            r[0] for r in duck.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
        if "SNOWFLAKE" not in attached:
            duck.execute("ATTACH ':memory:' AS SNOWFLAKE")
            duck.execute("CREATE SCHEMA IF NOT EXISTS SNOWFLAKE.CORTEX")
            for name, args, udf, models, result in _FUNCTIONS:
                known = ", ".join(f"'{m}'" for m in sorted(models))  # our constants only
                duck.execute(
                    f"CREATE OR REPLACE MACRO SNOWFLAKE.CORTEX.{name}({args}) AS CASE WHEN "
                    f"model IN ({known}) THEN {udf}({args}) ELSE CAST(CAST("
                    f"'Cortex: unknown model ' || model AS INTEGER) AS {result}) END"
                )
