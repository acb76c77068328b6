"""Parsing of warehouse URLs into the settings a backend needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from stores.errors import ConfigurationError
from stores.urls import redact_url

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_SNOWFLAKE_PARAMS = {
    "warehouse",
    "role",
    "host",
    "port",
    "protocol",
    "login_timeout",
    "network_timeout",
    "fakesnow_db_path",
}
_DUCKDB_PARAMS = {"read_only"}


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL.

    ``duckdb:///abs/path.duckdb[?read_only=true]`` (``duckdb:///:memory:`` for an
    in-memory database) or
    ``snowflake://user:pass@account/db/schema?warehouse=WH&role=R`` with optional
    ``host``, ``port``, ``protocol``, ``login_timeout``, ``network_timeout`` and
    ``fakesnow_db_path`` (for the emulator).
    """

    scheme: str
    path: str = ""
    read_only: bool = False
    user: str = ""
    password: str = field(default="", repr=False)
    account: str = ""
    database: str = ""
    schema: str = ""
    options: dict[str, str] = field(default_factory=dict)


def parse_warehouse_url(url: str) -> WarehouseURL:
    """Parse ``url``; raise `ConfigurationError` naming what is wrong with it."""
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError as exc:
        raise ConfigurationError(f"malformed warehouse URL: {exc}") from exc
    if parts.scheme == "duckdb":
        _check_params(query, _DUCKDB_PARAMS, "duckdb")
        path = unquote(parts.path)
        if parts.netloc:
            raise ConfigurationError(
                "duckdb URL must be duckdb:///absolute/path (three slashes), "
                f"got {redact_url(url)!r}"
            )
        if path.lstrip("/") in ("", ":memory:"):
            path = ":memory:"
        else:
            path = "/" + path.lstrip("/")  # duckdb:////abs/path (from f"duckdb:///{abs}") too
        return WarehouseURL(scheme="duckdb", path=path, read_only=_flag(query, "read_only"))
    if parts.scheme == "snowflake":
        _check_params(query, _SNOWFLAKE_PARAMS, "snowflake")
        _check_snowflake_values(query)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if not parts.hostname or not parts.username or len(segments) != 2:
            raise ConfigurationError(
                "snowflake URL must be snowflake://user:password@account/database/schema"
                "[?warehouse=WH&role=R]"
            )
        return WarehouseURL(
            scheme="snowflake",
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            account=parts.hostname,
            database=segments[0],
            schema=segments[1],
            options=query,
        )
    raise ConfigurationError(
        f"unsupported warehouse URL scheme {parts.scheme!r}: use duckdb:/// or snowflake://"
    )


def _check_params(query: dict[str, str], known: set[str], scheme: str) -> None:
    unknown = sorted(set(query) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown {scheme} URL parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )


def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "").lower()
    if value not in _TRUE | _FALSE:
        raise ConfigurationError(f"URL parameter {name} must be true or false, got {value!r}")
    return value in _TRUE


def _check_snowflake_values(query: dict[str, str]) -> None:
    port = query.get("port")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ConfigurationError(f"snowflake URL parameter port must be 1-65535, got {port!r}")
    protocol = query.get("protocol")
    if protocol is not None and protocol not in ("http", "https"):
        raise ConfigurationError(
            f"snowflake URL parameter protocol must be http or https, got {protocol!r}"
        )
    for name in ("login_timeout", "network_timeout"):
        value = query.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if not seconds > 0:  # also refuses nan
            raise ConfigurationError(
                f"snowflake URL parameter {name} must be a number of seconds > 0, got {value!r}"
            )
