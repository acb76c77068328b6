"""A counting loopback proxy in front of the warehouse emulator, for the `workers` bench.

    async with StatementCounter(emulator_url) as counter:
        url = counter.url                   # the same warehouse, through the proxy
        ...
        counter.statements, counter.logins  # requests seen so far

It forwards bytes both ways unchanged and counts the HTTP requests the Snowflake
connector sends (``/queries/v1/query-request``: one per statement;
``/session/v1/login-request``: one per new connection), so a bench can say how many
warehouse round trips a run costs, whichever process made them.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_QUERY = b"POST /queries/v1/query-request"
_LOGIN = b"POST /session/v1/login-request"


class StatementCounter:
    """The proxy (see the module docstring); `url` is `warehouse_url` through it."""

    def __init__(self, warehouse_url: str) -> None:
        parts = urlsplit(warehouse_url)
        query = dict(parse_qsl(parts.query))
        self._target = (query["host"], int(query["port"]))
        self._parts, self._query = parts, query
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.statements = 0
        self.logins = 0
        self.url = ""

    async def __aenter__(self) -> StatementCounter:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        query = urlencode({**self._query, "host": "127.0.0.1", "port": str(port)})
        self.url = urlunsplit(self._parts._replace(query=query))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer, count=True),
                                 self._pipe(up_reader, writer, count=False))  # fmt: skip
        finally:
            for w in (writer, up_writer):
                w.close()
            if task is not None:
                self._tasks.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        tail = b""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                if count:
                    seen = tail + chunk
                    self.statements += seen.count(_QUERY)
                    self.logins += seen.count(_LOGIN)
                    tail = chunk[-(len(_QUERY) - 1) :]  # a marker split across two reads
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()
