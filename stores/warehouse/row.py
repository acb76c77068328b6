"""`Row`: one result row as every backend returns it."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]
"""A result row: column name (lower case, on every backend) -> value."""
