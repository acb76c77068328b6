"""A span exporter that appends one JSON object per span to a local file, rotating by size.

The format (one line per finished span) is what :mod:`telemetry.viewer` reads::

    {"trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": "<16 hex>" | null,
     "name": ..., "kind": "INTERNAL", "start_ns": int, "end_ns": int,
     "attributes": {...}, "events": [{"name", "time_ns", "attributes"}],
     "status": {"code": "UNSET" | "OK" | "ERROR", "description": str | null},
     "service_name": ...}
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["DEFAULT_TRACE_FILE_NAME", "JsonLinesSpanExporter", "span_to_dict", "trace_file_path"]

logger = logging.getLogger(__name__)

DEFAULT_TRACE_FILE_NAME = "traces.jsonl"
"""The file name the engine uses under its data dir."""


def trace_file_path(data_dir: Path) -> Path:
    """Where the engine keeps its span file: ``data_dir / "traces.jsonl"``."""
    return Path(data_dir) / DEFAULT_TRACE_FILE_NAME


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    # orjson writes the tuples OpenTelemetry keeps sequences in as JSON arrays.
    return dict(attributes) if attributes else {}


def _service_name(resource: Resource | None) -> Any:
    return resource.attributes.get("service.name") if resource is not None else None


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """The JSON-ready record of one finished span (see the module docstring)."""
    ctx = span.context
    parent = span.parent
    status = span.status
    return {
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "attributes": _attributes(span.attributes),
        "events": [
            {"name": e.name, "time_ns": e.timestamp, "attributes": _attributes(e.attributes)}
            for e in span.events
        ],
        "status": {"code": status.status_code.name, "description": status.description},
        "service_name": _service_name(span.resource),
    }


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The spans as JSON lines (UTF-8), one per span; a value JSON has no type for is
    written as its ``str()``."""
    return b"".join(
        orjson.dumps(span_to_dict(s), default=str, option=orjson.OPT_APPEND_NEWLINE)
        for s in spans
    )


class JsonLinesSpanExporter(SpanExporter):
    """Appends spans to ``path`` as JSON lines; bounded: rotates at ``max_bytes``.

    When the file has reached ``max_bytes`` it is renamed ``path.1`` (older ones shift to
    ``path.2`` ... ``path.<backups>``, the oldest is deleted) and a new file is started, so
    the disk used is at most about ``(backups + 1) * max_bytes``. The file is opened for
    each exported batch and closed right after; nothing is held open between exports.
    """

    def __init__(self, path: Path, *, max_bytes: int = 20 * 1024 * 1024, backups: int = 2) -> None:
        if max_bytes < 1024:
            raise ValueError(f"max_bytes must be at least 1024, got {max_bytes}")
        if backups < 0:
            raise ValueError(f"backups must be >= 0, got {backups}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the spans; FAILURE (logged) if the file cannot be written."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        lines = encode_spans(spans)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._rotate_if_full()
                with self.path.open("ab") as fh:
                    fh.write(lines)
        except OSError as exc:
            logger.error("cannot write spans to %s: %s", self.path, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Stop accepting spans (each batch was already written and closed)."""
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here; always True."""
        return True

    def rotated_paths(self) -> list[Path]:
        """The span files, oldest first (backups that exist, then the current file)."""
        return existing_trace_files(self.path, self.backups)

    def _rotate_if_full(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.max_bytes:
            return
        if self.backups == 0:
            self.path.unlink()
            return
        for i in range(self.backups, 0, -1):
            src = self.path if i == 1 else self.path.with_name(f"{self.path.name}.{i - 1}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i}"))


def existing_trace_files(path: Path, backups: int = 9) -> list[Path]:
    """``path`` and its rotated backups that exist, oldest first."""
    path = Path(path)
    olds = [path.with_name(f"{path.name}.{i}") for i in range(backups, 0, -1)]
    return [p for p in [*olds, path] if p.exists()]
