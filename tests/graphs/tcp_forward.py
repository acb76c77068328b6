"""A TCP relay in a thread of the test process: a service on one address, reachable on another.

Used to expose a root-namespace service bound to 127.0.0.1 (the machine's Postgres, a
test's redis-server) on a root-side veth address, where processes inside network
namespaces can reach it (see tests/graphs/netns_hosts.py). Pure Python (asyncio in a
thread of its own), no socat.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

MAX_CONNECTIONS = 64  # relayed at once; more are refused (closed at once)
CHUNK = 64 * 1024  # per read; with drain() each direction buffers at most about this much
CONNECT_TIMEOUT_S = 30.0  # to the target, per accepted connection
START_TIMEOUT_S = 60.0  # a loaded 2-core machine: generous
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Forward:
    """A running relay: connections to ``host:port`` are relayed to ``target``."""

    host: str
    port: int
    target: tuple[str, int]


class _Relay:
    """The relay's state; every method runs on the relay thread's event loop."""

    def __init__(self, target: tuple[str, int], max_connections: int) -> None:
        self.target = target
        self.max_connections = max_connections
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._handle, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self.handlers) >= self.max_connections:
            writer.transport.abort()
            return
        self.handlers.add(task)
        self.writers.add(writer)
        ends = [writer]
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.target), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            return  # the target refused or did not answer: the client sees its connection close
        else:
            ends.append(up_writer)
            self.writers.add(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for end in ends:
                end.transport.abort()
                self.writers.discard(end)
            self.handlers.discard(task)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy `src` to `dst` until EOF, then half-close `dst` (the other way keeps going); on a
    reset, abort `dst`, which ends the other way too."""
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof() and not dst.is_closing():
            dst.write_eof()
    except OSError:
        dst.transport.abort()


@contextlib.contextmanager
def tcp_forward(
    listen_host: str,
    listen_port: int,
    target_host: str,
    target_port: int,
    *,
    max_connections: int = MAX_CONNECTIONS,
) -> Iterator[Forward]:
    """Listen on ``listen_host:listen_port`` (0: a free port) and relay each connection to
    ``target_host:target_port``, until the block exits.

    The listener is bound before the block starts (an OSError, e.g. address not available,
    is raised here). At most `max_connections` are relayed at once (others are closed on
    accept), each buffering at most about 64 KiB per direction. On exit the listener and
    every relayed connection are closed and the relay's thread has ended.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_forever, name=f"tcp-forward-{listen_host}:{listen_port}", daemon=True
    )
    thread.start()
    relay = _Relay((target_host, target_port), max_connections)
    try:
        started = asyncio.run_coroutine_threadsafe(relay.start(listen_host, listen_port), loop)
        port = started.result(timeout=START_TIMEOUT_S)
        yield Forward(listen_host, port, (target_host, target_port))
    finally:
        try:
            closing = asyncio.run_coroutine_threadsafe(relay.close(), loop)
            closing.result(timeout=STOP_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=STOP_TIMEOUT_S)
            if not thread.is_alive():
                loop.close()
