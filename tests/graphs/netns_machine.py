"""The root namespace's side of tests/graphs/netns_hosts.py: whether namespaces can be
made here, free subnets, stale namespaces of killed runs, and ``ip`` itself."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

POOL = ipaddress.IPv4Network("10.231.0.0/16")  # each host takes a /30 of it
NAME = re.compile(r"^sophia-(\d+)-[0-9a-f]{6}-[a-z]$")
IP_TIMEOUT_S = 60.0  # one `ip` command; generous on a loaded machine
ETC_NETNS = Path("/etc/netns")  # per-namespace files that `ip netns exec` mounts over /etc


@functools.cache
def _namespaces_unavailable() -> str | None:
    """Why namespaces cannot be made here (None when they can); tried once per process."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    token = new_token()
    name, veth = ns_name(token, "p"), veth_name(token, "p")
    steps = [
        ["netns", "add", name],
        ["link", "add", veth, "type", "veth", "peer", "name", f"{veth}n", "netns", name],
    ]
    try:
        for step in steps:
            done = try_ip(*step)
            if done.returncode != 0:
                return f"`ip {' '.join(step[:2])}` failed: {done.stderr.strip()}"
        try:
            enable_forwarding(veth)
        except OSError as exc:
            return f"cannot enable forwarding on a veth: {exc}"
        return None
    finally:
        try_ip("link", "del", veth)
        try_ip("netns", "del", name)


def skip_unless_namespaces() -> None:
    """pytest.skip, with the reason (not root, `ip` missing, operation not permitted), when
    this machine cannot make a network namespace joined by a veth pair."""
    reason = _namespaces_unavailable()
    if reason is not None:
        pytest.skip(reason)


def enable_forwarding(veth: str) -> None:
    """Let the root namespace forward packets that arrive on `veth`."""
    # Host-to-host packets are forwarded by the root namespace. IPv4 asks the incoming
    # device's flag, so setting it on the root-side veths is enough: no machine-wide sysctl
    # changes, and the flag goes away with the device.
    Path(f"/proc/sys/net/ipv4/conf/{veth}/forwarding").write_text("1\n")


def new_token() -> str:
    """Random hex naming one set of namespaces and veths (with `ns_name`, `veth_name`)."""
    return random.randbytes(3).hex()


def ns_name(token: str, letter: str) -> str:
    """A namespace's name: ``sophia-<pid>-<token>-<letter>`` (`sweep_stale` reads the pid)."""
    return f"sophia-{os.getpid()}-{token}-{letter}"


def veth_name(token: str, letter: str) -> str:
    """The root-side veth's name (the namespace side adds ``n``; at most 15 characters)."""
    return f"sph{token}{letter}"


def sweep_stale() -> None:
    """Remove namespaces (and their /etc/netns files) that a killed test run left behind:
    those named for a pid that is gone."""
    listed = {line.split(" ", 1)[0] for line in try_ip("netns", "list").stdout.splitlines()}
    if ETC_NETNS.is_dir():
        listed.update(entry.name for entry in ETC_NETNS.iterdir())
    for name in listed:
        match = NAME.match(name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(match.group(1)), 0)
            continue  # its run is alive
        try_ip("netns", "del", name)
        shutil.rmtree(ETC_NETNS / name, ignore_errors=True)


@contextlib.contextmanager
def allocation_lock() -> Iterator[None]:
    """Serialises choosing subnets and adding their addresses across processes."""
    with (Path(tempfile.gettempdir()) / "sophia-netns.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    """`count` random /30s of `POOL` overlapping no address or route of the root namespace."""
    used = _networks_in_use()
    candidates = list(POOL.subnets(new_prefix=30))
    random.shuffle(candidates)
    free = [c for c in candidates[: count * 64] if not any(c.overlaps(u) for u in used)]
    if len(free) < count:
        raise RuntimeError(f"no {count} free /30 subnets in {POOL} (in use: {used})")
    return free[:count]


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """IPv4 destinations of every route in the root namespace (every table: the local one
    lists each address), but the default route."""
    routes = json.loads(run_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]")
    return [
        ipaddress.IPv4Network(route["dst"], strict=False)
        for route in routes
        if route.get("dst", "default") != "default"
    ]


def try_ip(*args: str) -> subprocess.CompletedProcess[str]:
    """``ip args``, its output captured (text), whatever its exit status."""
    return subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
    )


def run_ip(*args: str) -> subprocess.CompletedProcess[str]:
    """``ip args``; RuntimeError quoting its stderr when it fails."""
    done = try_ip(*args)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done
