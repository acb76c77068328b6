"""The bounded W-TinyLFU L1: bounds, expiry, admission, and its aiocache backend API."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stores.cache.l1 import ENTRY_OVERHEAD_BYTES, FrequencySketch, TinyLfuCore


class ManualClock:
    """A clock the test advances by hand (the core takes its time source as a parameter)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "get", "delete", "tick"]),
        st.integers(min_value=0, max_value=60),  # key id
        st.integers(min_value=0, max_value=400),  # value size
        st.sampled_from([0.5, 1.0, 5.0]),  # ttl
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(
    ops=ops,
    max_entries=st.integers(min_value=1, max_value=20),
    max_bytes=st.integers(min_value=200, max_value=3000),
)
def test_bounds_hold_and_reads_never_return_stale_or_wrong_values(
    ops: list[tuple[str, int, int, float]], max_entries: int, max_bytes: int
) -> None:
    clock = ManualClock()
    core = TinyLfuCore(max_entries, max_bytes, clock=clock)
    truth: dict[str, tuple[bytes, float]] = {}  # what was last written, and its expiry
    for op, key_id, size, ttl in ops:
        key = f"k{key_id}"
        if op == "set":
            value = bytes([key_id % 256]) * size
            stored = core.set(key, value, ttl)
            assert stored == (size + len(key) + ENTRY_OVERHEAD_BYTES <= max_bytes)
            truth[key] = (value, clock.now + ttl)
            if stored:
                # get right after set, within TTL and bounds, returns the value
                assert core.get(key) == value
        elif op == "get":
            got = core.get(key)
            if got is not None:
                value, expires_at = truth[key]
                assert got == value
                assert clock.now < expires_at
        elif op == "delete":
            core.delete(key)
            truth.pop(key, None)
            assert core.get(key) is None
        else:
            clock.now += ttl / 2
        assert len(core) <= max_entries
        assert core.bytes <= max_bytes
        assert core.bytes == sum(
            len(k) + len(v) + ENTRY_OVERHEAD_BYTES for k, (v, _) in truth.items() if k in core
        )


def test_entries_expire_lazily_and_by_sweep() -> None:
    clock = ManualClock()
    core = TinyLfuCore(100, 1 << 20, clock=clock)
    core.set("short", b"x", 0.2)
    core.set("long", b"y", 10)
    clock.now += 0.1
    assert core.get("short") == b"x"
    clock.now += 0.2
    assert core.get("short") is None  # lazy expiry on read
    for i in range(20):
        core.set(f"k{i}", b"z", 0.2)
    clock.now += 1
    assert core.sweep() == 20
    assert len(core) == 1 and core.get("long") == b"y"
    assert core.expirations == 21


def test_writes_sweep_expired_entries_without_reads() -> None:
    clock = ManualClock()
    core = TinyLfuCore(1000, 1 << 20, clock=clock)
    for i in range(50):
        core.set(f"old{i}", b"v", 0.5)
    clock.now += 1
    for i in range(10):  # each write sweeps a few expired entries from the heap
        core.set(f"new{i}", b"v", 60)
    assert len(core) < 60
    assert core.expirations > 0


def test_rewrite_replaces_value_size_and_expiry() -> None:
    clock = ManualClock()
    core = TinyLfuCore(10, 10_000, clock=clock)
    core.set("a", b"1" * 10, 0.5)
    core.set("a", b"2" * 100, 5)
    assert core.bytes == 100 + 1 + ENTRY_OVERHEAD_BYTES
    clock.now += 1  # past the first expiry, within the second
    assert core.get("a") == b"2" * 100
    assert core.remaining_ttl("a") == pytest.approx(4.0)


def test_oversized_and_non_positive_ttl_values_are_rejected() -> None:
    core = TinyLfuCore(10, 500)
    core.set("a", b"ok", 10)
    assert core.set("a", b"x" * 1000, 10) is False
    assert core.get("a") is None  # the old value is not left behind
    assert core.set("b", b"x", 0) is False
    assert core.rejections == 2


def test_hot_keys_survive_a_scan_that_flushes_lru() -> None:
    """Frequency admission: a one-off scan does not displace keys that are used often."""
    core = TinyLfuCore(100, 1 << 20)
    lru: OrderedDict[str, bytes] = OrderedDict()

    def lru_access(key: str) -> bool:
        if key in lru:
            lru.move_to_end(key)
            return True
        lru[key] = b"v"
        if len(lru) > 100:
            lru.popitem(last=False)
        return False

    hot = [f"hot{i}" for i in range(50)]
    for _ in range(5):
        for key in hot:
            if core.get(key) is None:
                core.set(key, b"v", 60)
            lru_access(key)
    for i in range(1000):  # a scan of cold keys, each seen once
        key = f"scan{i}"
        if core.get(key) is None:
            core.set(key, b"v", 60)
        lru_access(key)
    assert sum(core.get(k) is not None for k in hot) >= 45
    assert sum(k in lru for k in hot) == 0


def test_sketch_counts_and_ages() -> None:
    sketch = FrequencySketch(64, sample_size=200)
    for _ in range(10):
        sketch.increment("popular")
    sketch.increment("rare")
    assert sketch.frequency("popular") >= 10
    assert sketch.frequency("rare") >= 1
    assert sketch.frequency("never") <= 1
    for i in range(200):  # passes the sample size: every counter is halved
        sketch.increment(f"filler{i}")
    assert sketch.frequency("popular") <= 7

