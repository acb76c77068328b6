"""Several "hosts" on one machine, made of Linux network namespaces, for tests.

`hosts(n)` makes n namespaces, each joined to the root namespace by a veth pair with a
/30 of its own (root side ``.1``, the host ``.2``, default route via the root side), so
processes in different hosts reach each other only by their addresses: each host's
loopback is its own and nothing in them can reach the root namespace's 127.0.0.1.
`tcp_forward` (tests/graphs/tcp_forward.py) exposes a root-namespace loopback service
(Postgres, a test's redis-server) on a root-side address, where the hosts can reach it.

The hosts have no DNS (lookups fail at once): use addresses. Needs root and ``ip``
(iproute2); `skip_unless_namespaces` skips the test when a namespace cannot be made (a CI
container, say), and `hosts` calls it itself. The root namespace's bookkeeping (free
subnets, leftovers of killed runs) is in tests/graphs/netns_machine.py.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.graphs.netns_machine import (
    ETC_NETNS,
    IP_TIMEOUT_S,
    allocation_lock,
    enable_forwarding,
    free_subnets,
    new_token,
    ns_name,
    run_ip,
    skip_unless_namespaces,
    sweep_stale,
    try_ip,
    veth_name,
)
from tests.graphs.tcp_forward import Forward, tcp_forward

__all__ = ["ETC_NETNS", "Forward", "Host", "hosts", "skip_unless_namespaces", "tcp_forward"]

CHILD_TIMEOUT_S = 120.0  # `Host.run`, and the reachability check
PROBE_CONNECT_S = 20.0  # a TCP connect between hosts: refused at once when routed
TERM_GRACE_S = 10.0  # after SIGTERM, before SIGKILL
GONE = ("Cannot find device", "No such file")  # `ip link del`, `ip netns del`: not there
CLOSED_PORT = 9  # nothing listens on it in a fresh namespace: a SYN gets a RST


@dataclass
class Host:
    """One namespace: its `name`, its address `ip`, the root side's `gateway` address
    and root-side veth name `veth`. Processes started through `popen`/`run` run in it and
    are killed when `hosts` exits."""

    name: str
    ip: str
    gateway: str
    veth: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        stdin: int | IO[Any] | None = None,
        cwd: str | Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in this host (``ip netns exec``; `env` is the child's whole
        environment, default this process's), in a session of its own."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv],
            env=None if env is None else dict(env),
            stdout=stdout,
            stderr=stderr,
            stdin=stdin,
            cwd=cwd,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = CHILD_TIMEOUT_S,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in this host to completion; its output is captured (text). With
        `check`, a non-zero exit raises AssertionError quoting the output; past `timeout`
        the child is killed and TimeoutExpired raised."""
        process = self.popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = process.communicate(timeout=timeout)
        except BaseException:
            _kill_group(process)
            raise
        text = (out.decode(errors="replace"), err.decode(errors="replace"))
        done = subprocess.CompletedProcess(list(argv), process.returncode, *text)
        if check and done.returncode != 0:
            raise AssertionError(
                f"{list(argv)} in {self.name} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done


@contextlib.contextmanager
def hosts(count: int = 2) -> Iterator[list[Host]]:
    """`count` (1..26) fresh network namespaces joined to the root namespace, each with an
    address of its own, that reach each other (checked before the block starts; forwarding
    is enabled on their root-side veths only, which changes no machine-wide sysctl).

    Skips the test when namespaces cannot be made. On exit, however the block ends
    (exception, KeyboardInterrupt), every process started through `Host.popen`/`run` and
    anything else left in the namespaces is killed, and the veths and namespaces are
    removed; an interrupt arriving during that cleanup is raised after it.
    """
    if not 1 <= count <= 26:
        raise ValueError(f"count must be 1..26, not {count}")
    skip_unless_namespaces()
    sweep_stale()
    made: list[Host] = []
    try:
        token = new_token()
        with allocation_lock():
            subnets = free_subnets(count)
            for k, subnet in enumerate(subnets):
                _add_host(made, token, chr(ord("a") + k), subnet)
        _write_etc(made)
        if count > 1:
            _check_reachable(made)
        yield made
    except BaseException:
        _teardown(made, quiet=True)
        raise
    _teardown(made, quiet=False)


def _add_host(made: list[Host], token: str, letter: str, subnet: ipaddress.IPv4Network) -> None:
    """One namespace with its veth pair, addressed and up, appended to `made` before it is
    made (so a failure half-way is still cleaned up)."""
    gateway, address = (str(a) for a in subnet.hosts())
    name = ns_name(token, letter)
    host = Host(name=name, ip=address, gateway=gateway, veth=veth_name(token, letter))
    peer = f"{host.veth}n"
    made.append(host)
    run_ip("netns", "add", name)
    run_ip("link", "add", host.veth, "type", "veth", "peer", "name", peer, "netns", name)
    run_ip("addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", host.veth)
    run_ip("link", "set", host.veth, "up")
    enable_forwarding(host.veth)
    run_ip("-n", name, "link", "set", "lo", "up")
    run_ip("-n", name, "addr", "add", f"{address}/{subnet.prefixlen}", "dev", peer)
    run_ip("-n", name, "link", "set", peer, "up")
    run_ip("-n", name, "route", "add", "default", "via", gateway)


def _write_etc(made: list[Host]) -> None:
    """Each host's own /etc/hosts (localhost and every host's namespace name) and
    /etc/resolv.conf, which ``ip netns exec`` mounts over the machine's: the hosts have no
    way to the machine's DNS server, and without this a lookup (``socket.getfqdn``, which
    ``python -m http.server`` does) would wait out its timeouts instead of failing at once."""
    names = "".join(f"{h.ip}\t{h.name}\n" for h in made)
    for host in made:
        etc = ETC_NETNS / host.name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{names}")
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


# Run in a host: connect to argv[1] on each address argv[3:] (timeout argv[2]); exit 1
# naming the first that did not answer.
PROBE = """
import socket, sys
for ip in sys.argv[3:]:
    try:
        socket.create_connection((ip, int(sys.argv[1])), timeout=float(sys.argv[2])).close()
    except ConnectionRefusedError:
        pass
    except OSError as e:
        sys.exit(f"{ip} unreachable: {e!r}")
"""


def _check_reachable(made: list[Host]) -> None:
    """The first host reaches every other one: a connect to a closed port is refused by
    the far host's kernel (a RST travels both ways, through both hosts' root-side veths,
    so this covers every veth's forwarding in both directions)."""
    done = made[0].run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(CLOSED_PORT), str(PROBE_CONNECT_S)]
        + [h.ip for h in made[1:]],
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"namespaces do not reach each other through the root namespace "
            f"({done.stderr.strip()}); a firewall FORWARD policy may drop veth traffic"
        )


def _teardown(made: list[Host], *, quiet: bool) -> None:
    """Kill the hosts' processes and remove their veths, namespaces and /etc/netns files, in
    a thread of its own so that a signal (KeyboardInterrupt, a test timeout) cannot cut it
    short; such an interruption is raised once cleanup has finished. Raises RuntimeError
    naming what could not be removed, unless `quiet` (an exception is already on its way)."""
    errors: list[str] = []
    finished = threading.Event()  # not Thread.join: an interrupted join forgets the thread

    def clean() -> None:
        try:
            _remove(made, errors)
        finally:
            finished.set()

    threading.Thread(target=clean, name="netns-teardown").start()
    interrupted: BaseException | None = None
    while not finished.is_set():
        try:
            finished.wait()
        except BaseException as exc:
            interrupted = exc  # finish cleaning first
    if interrupted is not None:
        raise interrupted
    if errors and not quiet:
        raise RuntimeError("netns hosts not fully removed: " + "; ".join(errors))


def _remove(made: list[Host], errors: list[str]) -> None:
    """Everything `hosts` made, best effort: what fails is added to `errors`."""
    try:
        _stop_processes(made, errors)
    except Exception as exc:
        errors.append(f"stopping processes: {exc!r}")
    for host in made:
        for step in (["link", "del", host.veth], ["netns", "del", host.name]):
            try:
                done = try_ip(*step)
            except Exception as exc:
                errors.append(f"ip {' '.join(step)}: {exc!r}")
                continue
            if done.returncode != 0 and not any(m in done.stderr for m in GONE):
                errors.append(f"ip {' '.join(step)}: {done.stderr.strip()}")
        try:
            shutil.rmtree(ETC_NETNS / host.name)
        except FileNotFoundError:
            pass  # setup ended before writing it
        except OSError as exc:
            errors.append(f"{ETC_NETNS / host.name}: {exc!r}")
    with contextlib.suppress(OSError):
        ETC_NETNS.rmdir()  # when no other run's files are left in it


def _stop_processes(made: list[Host], errors: list[str]) -> None:
    """SIGTERM every process started in the hosts (each one's whole session), SIGKILL what
    is left after one grace period, then SIGKILL anything else still in the namespaces."""
    started = [p for host in made for p in host.processes]
    alive = [p for p in started if p.poll() is None]
    for process in alive:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_S
    for process in alive:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in started:
        try:
            _kill_group(process)
        except Exception as exc:
            errors.append(f"pid {process.pid}: {exc!r}")
    for host in made:
        deadline = time.monotonic() + IP_TIMEOUT_S
        while pids := try_ip("netns", "pids", host.name).stdout.split():
            for pid in pids:  # our namespace: only descendants of our own processes live here
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            if time.monotonic() > deadline:
                errors.append(f"processes {pids} outlived SIGKILL in {host.name}")
                break
            time.sleep(0.1)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the session of a child not yet reaped (its pid cannot have been reused)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # its session: started with start_new_session


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's session (its children too) and reap it."""
    if process.returncode is None:  # not reaped: its pid, hence its group, is still ours
        _signal_group(process, signal.SIGKILL)
    process.kill()  # a no-op once reaped
    process.wait(timeout=IP_TIMEOUT_S)
