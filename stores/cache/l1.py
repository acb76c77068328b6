"""The bounded in-process L1: W-TinyLFU eviction and lazy TTL expiry.

`TinyLfuCore` is the synchronous policy that `TieredCache` keeps its L1 in (and that the
hit-ratio bench drives directly):

* a small **window** LRU (1 % of the entries) absorbs bursts of new keys;
* the **main** space is a segmented LRU: *probation* (20 %) and *protected* (80 %);
  a hit in probation promotes the key to protected;
* a key leaving the window is admitted to main only if a **count-min sketch** says it
  has been requested more often than the probation victim it would displace. The
  sketch (4 rows, width 4 x max_entries, counters capped at 15, conservative update)
  is halved every ``40 x max_entries`` increments (aging), so yesterday's popular keys
  fade. Width and period were tuned on the bench's Zipf trace: narrower sketches or
  shorter periods lose 0.5-1 point of hit ratio.

The cache is bounded by entries (window + main capacity) **and** by approximate bytes
(values are stored encoded, so the size is ``len(value) + key + overhead``). Each entry
has an absolute expiry (monotonic clock); expired entries are dropped when read and by
an amortised sweep driven by a heap of expiries on each write (no timer per key).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

ENTRY_OVERHEAD_BYTES = 96
"""Approximate per-entry bookkeeping cost added to key and value sizes."""

SKETCH_WIDTH_FACTOR = 4
"""Sketch counters per row, per L1 entry (rounded up to a power of two)."""
SKETCH_PERIOD_FACTOR = 40
"""Increments between agings (halving every counter), per L1 entry."""

_HALVE = bytes(i >> 1 for i in range(256))
_WINDOW, _PROBATION, _PROTECTED = 0, 1, 2
_SWEEP_PER_WRITE = 8


class FrequencySketch:
    """Count-min sketch of 4-bit counters (depth 4) with periodic halving (aging)."""

    def __init__(self, width_hint: int, sample_size: int) -> None:
        width = 16
        while width < width_hint:
            width <<= 1
        self._mask = width - 1
        self._rows = [bytearray(width) for _ in range(4)]
        self._sample_size = max(sample_size, 64)
        self._additions = 0

    def _indexes(self, key: str) -> Iterator[int]:
        h = hash(key)
        h2 = ((h * 0x9E3779B97F4A7C15) >> 32 | 1) & 0xFFFFFFFF
        mask = self._mask
        for i in range(4):
            yield (h + i * h2) & mask

    def increment(self, key: str) -> None:
        """Count one access of `key`; halve every counter after the sample period.

        Conservative update: only the counters equal to the current minimum grow, which
        keeps collisions from inflating the estimates of cold keys.
        """
        cells = list(zip(self._rows, self._indexes(key), strict=True))
        low = min(row[idx] for row, idx in cells)
        if low < 15:
            for row, idx in cells:
                if row[idx] == low:
                    row[idx] = low + 1
        self._additions += 1
        if self._additions >= self._sample_size:
            self._rows = [row.translate(_HALVE) for row in self._rows]
            self._additions //= 2

    def frequency(self, key: str) -> int:
        """Estimated access count of `key` (never below the truth before aging)."""
        return min(row[idx] for row, idx in zip(self._rows, self._indexes(key), strict=True))


class _Entry:
    __slots__ = ("expires_at", "segment", "size", "value")

    def __init__(self, value: bytes, expires_at: float, size: int, segment: int) -> None:
        self.value = value
        self.expires_at = expires_at
        self.size = size
        self.segment = segment


class TinyLfuCore:
    """Synchronous W-TinyLFU map of str -> bytes, bounded by entries and bytes.

    Promises: ``len(self) <= max_entries`` and ``self.bytes <= max_bytes`` after every
    call; `get` never returns an entry past its expiry. Thread-safe (one lock).
    `clock` is the time source (monotonic seconds) for expiry.
    """

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        *,
        window_fraction: float = 0.01,
        clock: Any = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("the L1 needs max_entries >= 1 and max_bytes >= 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._window_cap = max(1, int(max_entries * window_fraction))
        self._main_cap = max_entries - self._window_cap
        self._protected_cap = int(self._main_cap * 0.8)
        self._segments: tuple[OrderedDict[str, _Entry], ...] = (
            OrderedDict(), OrderedDict(), OrderedDict(),
        )  # fmt: skip
        self._index: dict[str, _Entry] = {}
        self._sketch = FrequencySketch(SKETCH_WIDTH_FACTOR * max_entries,
                                       SKETCH_PERIOD_FACTOR * max_entries)  # fmt: skip
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.RLock()
        self._clock = clock
        self.bytes = 0
        self.evictions = 0
        self.expirations = 0
        self.rejections = 0
        self.listener: Callable[[str, str], None] | None = None
        """Called as ``listener(key, "eviction" | "expiry")`` when the policy drops a key."""

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def get(self, key: str) -> bytes | None:
        """The value of `key` if present and unexpired, else None; counts the access."""
        with self._lock:
            self._sketch.increment(key)
            entry = self._index.get(key)
            if entry is None:
                return None
            if entry.expires_at <= self._clock():
                self._remove(key, entry)
                self._dropped(key, "expiry")
                return None
            self._touch(key, entry)
            return entry.value

    def remaining_ttl(self, key: str) -> float | None:
        """Seconds until `key` expires, or None if absent or expired."""
        entry = self._index.get(key)
        if entry is None:
            return None
        left = entry.expires_at - self._clock()
        return left if left > 0 else None

    def set(self, key: str, value: bytes, ttl: float) -> bool:
        """Store `value` for `ttl` seconds; False if it was rejected (too big or ttl <= 0)."""
        size = len(value) + len(key) + ENTRY_OVERHEAD_BYTES
        with self._lock:
            now = self._clock()
            old = self._index.get(key)
            if ttl <= 0 or size > self.max_bytes:
                if old is not None:
                    self._remove(key, old)
                self.rejections += 1
                return False
            expires_at = now + ttl
            heapq.heappush(self._expiries, (expires_at, key))
            if old is not None:
                self.bytes += size - old.size
                old.value, old.size, old.expires_at = value, size, expires_at
                self._touch(key, old)
            else:
                entry = _Entry(value, expires_at, size, _WINDOW)
                self._index[key] = entry
                self._segments[_WINDOW][key] = entry
                self.bytes += size
                if len(self._segments[_WINDOW]) > self._window_cap:
                    self._admit_from_window()
            self._sweep(now, _SWEEP_PER_WRITE)
            # The new value fits alone (checked above), so this ends with it still held.
            while self.bytes > self.max_bytes:
                self._evict_one(keep=key)
            return True

    def delete(self, key: str) -> bool:
        """Remove `key`; True if it was present."""
        with self._lock:
            entry = self._index.get(key)
            if entry is None:
                return False
            self._remove(key, entry)
            return True

    def clear(self, prefix: str = "") -> int:
        """Remove every key starting with `prefix` (all keys if empty); return the count."""
        with self._lock:
            doomed = [k for k in self._index if k.startswith(prefix)]
            for key in doomed:
                self._remove(key, self._index[key])
            return len(doomed)

    def sweep(self) -> int:
        """Drop every expired entry now; return how many were dropped."""
        with self._lock:
            return self._sweep(self._clock(), None)

    # -- policy internals (caller holds the lock) --------------------------------------

    def _touch(self, key: str, entry: _Entry) -> None:
        if entry.segment == _PROBATION:
            del self._segments[_PROBATION][key]
            entry.segment = _PROTECTED
            protected = self._segments[_PROTECTED]
            protected[key] = entry
            if len(protected) > self._protected_cap:
                demoted_key, demoted = protected.popitem(last=False)
                demoted.segment = _PROBATION
                self._segments[_PROBATION][demoted_key] = demoted
        else:
            self._segments[entry.segment].move_to_end(key)

    def _admit_from_window(self) -> None:
        cand_key, cand = self._segments[_WINDOW].popitem(last=False)
        probation, protected = self._segments[_PROBATION], self._segments[_PROTECTED]
        cand.segment = _PROBATION
        if len(probation) + len(protected) < self._main_cap:
            probation[cand_key] = cand
            return
        victims = probation if probation else protected
        victim_key = next(iter(victims), None)
        if victim_key is not None and (
            self._sketch.frequency(cand_key) > self._sketch.frequency(victim_key)
        ):
            self._remove(victim_key, victims[victim_key])
            probation[cand_key] = cand
            self._dropped(victim_key, "eviction")
        else:
            del self._index[cand_key]
            self.bytes -= cand.size
            self._dropped(cand_key, "eviction")

    def _evict_one(self, keep: str) -> None:
        """Evict one entry for the byte bound, never `keep` (the key just written)."""
        for segment in (_PROBATION, _WINDOW, _PROTECTED):
            entries = self._segments[segment]
            for key in entries:  # LRU first; at most two steps because of `keep`
                if key != keep:
                    self._remove(key, entries[key])
                    self._dropped(key, "eviction")
                    return

    def _dropped(self, key: str, reason: str) -> None:
        if reason == "eviction":
            self.evictions += 1
        else:
            self.expirations += 1
        if self.listener is not None:
            self.listener(key, reason)

    def _remove(self, key: str, entry: _Entry) -> None:
        del self._index[key]
        del self._segments[entry.segment][key]
        self.bytes -= entry.size

    def _sweep(self, now: float, limit: int | None) -> int:
        heap, dropped, examined = self._expiries, 0, 0
        while heap and heap[0][0] <= now and (limit is None or examined < limit):
            expires_at, key = heapq.heappop(heap)
            examined += 1
            entry = self._index.get(key)
            # A stale heap item (key rewritten or evicted) does not match the entry.
            if entry is not None and entry.expires_at == expires_at:
                self._remove(key, entry)
                self._dropped(key, "expiry")
                dropped += 1
        if len(heap) > 2 * self.max_entries + 64:
            self._expiries = [(e.expires_at, k) for k, e in self._index.items()]
            heapq.heapify(self._expiries)
        return dropped

