"""The connection limits `sophia serve` runs uvicorn with (`uvicorn_limits`): late
headers close the connection; past the connection cap, requests get 503."""

from __future__ import annotations

import socket
import time

from graphs.server.app import create_app
from graphs.server.security import SecuritySettings
from graphs.server.serve import uvicorn_limits
from stores.settings import Settings
from tests.graphs.server.live_server import ServerThread


def _closed_within(sock: socket.socket, timeout_s: float) -> bool:
    """Whether the server closes `sock` (EOF) within `timeout_s`."""
    sock.settimeout(timeout_s)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_client_that_never_finishes_its_headers_is_cut_off(settings: Settings) -> None:
    limits = uvicorn_limits(SecuritySettings(header_timeout_s=0.5), shutdown_grace_s=5)
    with ServerThread(create_app(settings), **limits) as server:
        silent = socket.create_connection(("127.0.0.1", server.port))
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
        started = time.monotonic()
        try:
            assert _closed_within(silent, 20), "a silent connection stayed open"
            assert _closed_within(slow, 20), "a connection with unfinished headers stayed open"
        finally:
            silent.close()
            slow.close()
        assert time.monotonic() - started < 20
        # a complete request on a kept-alive connection is unaffected, twice
        with socket.create_connection(("127.0.0.1", server.port)) as ok:
            ok.settimeout(20)
            for _ in range(2):
                ok.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = b""
                while not answer.endswith(b'{"status":"ok"}'):
                    answer += ok.recv(1024)
                assert answer.startswith(b"HTTP/1.1 200")


def test_past_the_connection_cap_requests_get_503(settings: Settings) -> None:
    limits = uvicorn_limits(SecuritySettings(max_connections=2), shutdown_grace_s=5)
    assert limits["timeout_keep_alive"] > 0 and limits["timeout_graceful_shutdown"] == 5
    with ServerThread(create_app(settings), **limits) as server:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        try:
            with socket.create_connection(("127.0.0.1", server.port)) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                extra.settimeout(20)
                assert extra.recv(1024).startswith(b"HTTP/1.1 503")
        finally:
            for sock in held:
                sock.close()
