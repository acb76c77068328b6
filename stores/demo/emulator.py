"""A local stand-in for a remote Snowflake: fakesnow's server with added latency and faults.

`WarehouseEmulator` runs fakesnow's Starlette app under uvicorn in a daemon thread on
loopback. The real snowflake connector reaches it over HTTP through `url`. A small ASGI
middleware in front of the app:

- sleeps ``login_ms`` on each login and ``query_ms`` on each statement (``asyncio.sleep``,
  so concurrent requests overlap the way they would against a remote warehouse);
- counts logins and statements (`logins`, `statements`: an independent check on how many
  round trips a client made);
- on ``fail("error")`` answers every login and statement with HTTP 503 until `recover`;
  on ``fail("hang")`` holds them open until `recover` (clients then hit their own
  timeouts).

`kill_sessions()` drops every server-side session, as a warehouse does when sessions
expire: connections still open in a client fail their next statement with HTTP 401.

Snowflake Cortex's COMPLETE and EMBED_TEXT_768/1024 are answered too
(`stores.demo.cortex_fake`: a deterministic fake chat model, the local embedder).

All emulators in one process share fakesnow's one in-memory database (a module-level
object in ``fakesnow.server``); tables in ``data`` are created or replaced by name.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa

from stores.demo.cortex_fake import register_cortex
from stores.errors import ConfigurationError

FailMode = Literal["error", "hang"]
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_LOGIN_PATH = "/session/v1/login-request"
_QUERY_PATH = "/queries/v1/query-request"

ASGIApp = Any


def _fakesnow_server() -> Any:
    # imported lazily: fakesnow.server builds its shared in-memory database on import
    module = importlib.import_module("fakesnow.server")
    logging.getLogger("fakesnow.server").setLevel(logging.WARNING)
    return module


class _LatencyFaults:
    """ASGI middleware adding latency, counting requests and injecting faults."""

    def __init__(self, app: ASGIApp, login_ms: float, query_ms: float) -> None:
        self.app = app
        self.login_ms = login_ms
        self.query_ms = query_ms
        self.mode: FailMode | None = None
        self.logins = 0
        self.statements = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if path in (_LOGIN_PATH, _QUERY_PATH):
            # mode is flipped from other threads, so poll rather than wait on a loop-bound Event
            while self.mode == "hang":  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            if self.mode == "error":
                await _send_503(send)
                return
            if path == _LOGIN_PATH:
                self.logins += 1
                await asyncio.sleep(self.login_ms / 1000)
            else:
                self.statements += 1
                await asyncio.sleep(self.query_ms / 1000)
        await self.app(scope, receive, send)


async def _send_503(send: Any) -> None:
    body = b'{"success": false, "message": "emulated outage", "code": "503", "data": null}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class WarehouseEmulator:
    """A local Snowflake emulator; use as ``with`` or ``async with`` (see module docstring).

    ``url`` is a ``snowflake://`` URL that `stores.Warehouse` understands; ``port=None``
    picks a free loopback port. ``client_timeout_s`` goes into the URL as the connector's
    ``login_timeout``/``network_timeout``: it bounds how long the connector keeps retrying
    an HTTP 503 (``fail("error")``) before raising. A hung request (``fail("hang")``) is
    bounded by the Warehouse's query and acquire timeouts instead.
    """

    def __init__(
        self,
        login_ms: float = 300,
        query_ms: float = 40,
        data: Mapping[str, pa.Table] | None = None,
        database: str = "SOPHIA",
        schema: str = "PUBLIC",
        port: int | None = None,
        host: str = "127.0.0.1",
        client_timeout_s: float = 10.0,
    ) -> None:
        self.client_timeout_s = client_timeout_s
        for label, ident in (("database", database), ("schema", schema)):
            if not _IDENT.match(ident.lower()):
                raise ConfigurationError(f"emulator {label} {ident!r} is not a plain identifier")
        self.database = database.upper()
        self.schema = schema.upper()
        self.host = host
        self.port = port or 0
        self._data = dict(data or {})
        self._middleware = _LatencyFaults(_fakesnow_server().app, login_ms, query_ms)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # configuration and faults --------------------------------------------------------

    @property
    def url(self) -> str:
        """``snowflake://fake:snow@emulator/DB/SCHEMA?host=...&port=...&protocol=http``."""
        if not self.port:
            raise ConfigurationError("the emulator is not started")
        return (
            f"snowflake://fake:snow@emulator/{self.database}/{self.schema}"
            f"?host={self.host}&port={self.port}&protocol=http"
            f"&login_timeout={self.client_timeout_s:g}&network_timeout={self.client_timeout_s:g}"
        )

    @property
    def logins(self) -> int:
        """Logins served so far (one per new client connection)."""
        return self._middleware.logins

    @property
    def statements(self) -> int:
        """Statements received so far (including health checks and catalogue reads)."""
        return self._middleware.statements

    def set_latency(self, login_ms: float | None = None, query_ms: float | None = None) -> None:
        """Change the added latency of logins and/or statements from now on."""
        if login_ms is not None:
            self._middleware.login_ms = login_ms
        if query_ms is not None:
            self._middleware.query_ms = query_ms

    def fail(self, mode: FailMode = "error") -> None:
        """Make logins and statements fail: ``"error"`` = HTTP 503, ``"hang"`` = never answer."""
        if mode not in ("error", "hang"):
            raise ValueError(f"fail mode must be 'error' or 'hang', got {mode!r}")
        self._middleware.mode = mode

    def recover(self) -> None:
        """Serve normally again (held requests proceed)."""
        self._middleware.mode = None

    def kill_sessions(self) -> int:
        """Drop every server-side session; returns how many there were."""
        sessions = _fakesnow_server().sessions
        count = len(sessions)
        sessions.clear()
        return count

    def load(self, data: Mapping[str, pa.Table]) -> None:
        """Create or replace tables (names and columns lower case) in the emulator's schema."""
        conn = _fakesnow_server().shared_fs.connect(self.database, self.schema)
        duck = conn._duck_conn
        try:
            for name, table in data.items():
                if not _IDENT.match(name):
                    raise ConfigurationError(
                        f"emulator table name {name!r} is not a plain identifier"
                    )
                table = table.rename_columns([c.lower() for c in table.column_names])
                view = f"_emulator_load_{name}"
                duck.register(view, table)
                try:
                    # every identifier here was checked against _IDENT; no values in SQL
                    duck.execute(
                        f"CREATE OR REPLACE TABLE {self.database}.{self.schema}.{name} AS "  # noqa: S608
                        f"SELECT * FROM {view}"
                    )
                finally:
                    duck.unregister(view)
        finally:
            conn.close()

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> WarehouseEmulator:
        """Load the data and start serving; returns once the server accepts connections."""
        import uvicorn

        if self._thread is not None:
            return self
        register_cortex(_fakesnow_server().shared_fs.duck_conn)  # SNOWFLAKE.CORTEX.*
        if self._data:
            self.load(self._data)
        # Bind here and hand uvicorn the socket: picking a free port and binding it later
        # raced with other processes on a busy machine.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
        except OSError as exc:
            listener.close()
            raise ConfigurationError(
                f"the warehouse emulator cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        self.port = int(listener.getsockname()[1])
        config = uvicorn.Config(
            self._middleware,
            host=self.host,
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [listener]},
            name="warehouse-emulator",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 120  # generous: a loaded machine starts slowly
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the warehouse emulator did not start on {self.host}:{self.port}"
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving (held requests are released first) and join the server thread."""
        self.recover()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
        self._server = None

    def __enter__(self) -> WarehouseEmulator:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> WarehouseEmulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


def run_emulator_forever(
    host: str = "127.0.0.1",
    port: int = 8085,
    login_ms: float = 300,
    query_ms: float = 40,
    data: Mapping[str, pa.Table] | None = None,
) -> None:
    """Serve an emulator until interrupted (for ``sophia emulator``); prints its URL."""
    with WarehouseEmulator(
        login_ms=login_ms, query_ms=query_ms, data=data, host=host, port=port
    ) as emu:
        print(f"warehouse emulator listening: {emu.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
