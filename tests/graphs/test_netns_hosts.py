"""`hosts` makes separate network hosts on one machine: they reach each other by address
only, reach root-namespace loopback services only through `tcp_forward`, and leave
nothing behind (namespaces, veths, processes, sysctls) however the block ends."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RedisServer
from tests.graphs.netns_hosts import (
    ETC_NETNS,
    Host,
    hosts,
    skip_unless_namespaces,
    tcp_forward,
)

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
READY_DEADLINE_S = 60.0
GLOBAL_FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")

# Run inside a host: GET argv[1], print the body, or print the error's kind.
FETCH = """
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())
except urllib.error.URLError as e:
    print("error:", type(e.reason).__name__)
"""
PG_SELECT_1 = """
import sys, psycopg
with psycopg.connect(sys.argv[1], connect_timeout=30) as conn:
    print(conn.execute("SELECT 1").fetchone()[0])
"""
REDIS_PING_GET = """
import sys, redis
client = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), socket_timeout=30)
print(client.ping(), client.get(sys.argv[3]).decode())
"""


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[list[Host]]:
    skip_unless_namespaces()
    with hosts(2) as made:
        yield made


def test_http_server_in_one_host_is_reached_from_the_other_by_its_address(
    two_hosts: list[Host], tmp_path: Path
) -> None:
    a, b = two_hosts
    (tmp_path / "hello.txt").write_text(f"served in {a.name}")
    log = tmp_path / "http.log"
    argv = [sys.executable, "-m", "http.server", "8080", "--bind", a.ip, "-d", str(tmp_path)]
    with log.open("wb") as out:
        server = a.popen(argv, stdout=out, stderr=out)
    deadline = time.monotonic() + READY_DEADLINE_S
    while True:  # ready: answers on A's address (the root namespace is on A's link)
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://{a.ip}:8080/hello.txt", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)

    by_address = b.run([sys.executable, "-c", FETCH, f"http://{a.ip}:8080/hello.txt"])
    by_loopback = b.run([sys.executable, "-c", FETCH, "http://127.0.0.1:8080/hello.txt"])

    assert by_address.stdout.strip() == f"served in {a.name}"
    assert by_loopback.stdout.strip() == "error: ConnectionRefusedError"


def test_postgres_is_reached_from_a_host_through_the_forwarder(two_hosts: list[Host]) -> None:
    import psycopg

    try:
        psycopg.connect(PG_BASE, connect_timeout=5).close()
    except psycopg.Error:
        pytest.skip("no Postgres on 127.0.0.1:5432")
    b = two_hosts[1]

    with tcp_forward(b.gateway, 0, "127.0.0.1", 5432) as fwd:
        url = f"postgresql://postgres@{fwd.host}:{fwd.port}/test"
        selected = b.run([sys.executable, "-c", PG_SELECT_1, url])
    direct = b.run([sys.executable, "-c", PG_SELECT_1, PG_BASE], check=False)

    assert selected.stdout.strip() == "1"
    assert direct.returncode != 0 and "Connection refused" in direct.stderr


def test_redis_is_reached_from_a_host_through_the_forwarder(
    two_hosts: list[Host], disposable_redis: RedisServer, key_prefix: str
) -> None:
    import redis

    a = two_hosts[0]
    key = f"{key_prefix}where"
    redis.Redis(port=disposable_redis.port).set(key, "root namespace")

    with tcp_forward(a.gateway, 0, "127.0.0.1", disposable_redis.port) as fwd:
        argv = [sys.executable, "-c", REDIS_PING_GET, fwd.host, str(fwd.port), key]
        answered = a.run(argv)

    assert answered.stdout.strip().split(maxsplit=1) == ["True", "root namespace"]


def _listed() -> str:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return netns.stdout + links.stdout


@pytest.mark.parametrize("ending", [None, RuntimeError, KeyboardInterrupt])
def test_nothing_is_left_after_the_block_however_it_ends(
    ending: type[BaseException] | None,
) -> None:
    skip_unless_namespaces()
    forwarding_before = GLOBAL_FORWARDING.read_text()

    with pytest.raises(ending) if ending else contextlib.nullcontext():
        with hosts(2) as made:
            names = [part for h in made for part in (h.name, h.veth)]
            assert all(name in _listed() for name in names)
            sleeper = made[0].popen([sys.executable, "-c", "import time; time.sleep(600)"])
            if ending is not None:
                raise ending()

    left = _listed()
    assert [name for name in names if name in left] == []
    assert not [h.name for h in made if (ETC_NETNS / h.name).exists()]
    assert sleeper.poll() is not None
    assert GLOBAL_FORWARDING.read_text() == forwarding_before


def test_namespaces_of_a_killed_run_are_removed_by_the_next() -> None:
    skip_unless_namespaces()
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # a run that died without cleaning up: its pid no longer exists
    stale = f"sophia-{gone.pid}-abcdef-a"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with hosts(1):
            assert stale not in _listed()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)


@contextlib.contextmanager
def _echo_server() -> Iterator[int]:
    """A loopback TCP echo server (a thread per connection); yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        acceptor.join(timeout=30)
        listener.close()


def test_forwarder_relays_within_its_bound_and_closes_on_exit() -> None:
    """No namespaces needed: an echo server on loopback, relayed from another port."""
    payload = bytes(range(256)) * 4096  # 1 MiB: many chunks, both ways at once
    with (
        _echo_server() as port,
        tcp_forward("127.0.0.1", 0, "127.0.0.1", port, max_connections=1) as fwd,
    ):
        with socket.create_connection((fwd.host, fwd.port), timeout=30) as client:

            def send() -> None:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)

            sender = threading.Thread(target=send)
            sender.start()
            got = bytearray()
            while data := client.recv(65536):
                got += data
            sender.join(timeout=30)

        with socket.create_connection((fwd.host, fwd.port), timeout=30) as held:
            held.sendall(b"ping")
            assert held.recv(16) == b"ping"  # relayed: the one connection allowed
            with socket.create_connection((fwd.host, fwd.port), timeout=30) as extra:
                with contextlib.suppress(ConnectionResetError):
                    assert extra.recv(16) == b""  # over the bound: closed on accept

    assert bytes(got) == payload
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((fwd.host, fwd.port), timeout=30).close()
    assert not [t for t in threading.enumerate() if t.name.startswith("tcp-forward-")]
