"""uvicorn's httptools protocol with a header read timeout.

uvicorn times out idle keep-alive connections (``timeout_keep_alive``) but not a client
that opens a connection, or starts a request, and then sends its headers slowly or not at
all: each such client holds a connection for as long as it likes ("slowloris"). Here a
connection whose request line and headers are not complete within `header_timeout_s` of
the connection opening (or of the request's first byte, on a kept-alive connection) is
closed. Bodies have their own timeout where they are read (`graphs.server.body`); the
number of connections is capped by uvicorn's ``limit_concurrency``.

    uvicorn.run(app, http=functools.partial(HeaderTimeoutProtocol, header_timeout_s=10))
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes a connection whose headers are late."""

    def __init__(self, *args: Any, header_timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.logger.debug("closing a connection whose request headers are late")
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        """A request starts: its headers must arrive in time."""
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        """The headers are in: stop the clock."""
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: no clock to run."""
        self._disarm()
        super().connection_lost(exc)
