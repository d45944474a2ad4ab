"""The keys a step has handled in this run: the one thing a streaming run holds per record.

A key is held as bytes (a one-field key as its UTF-8, a longer one as its ``repr``: both exact),
first in a set and, once the set holds ``spill`` of them, packed: sorted into one bytes object
beside an array of where each key ends, ~4 bytes a key beyond its own where the set holds ~60
(a bytes object and its slot). At 1,000,000 products (300,000 keys) the set was 21 MB of a
complete sync's 97 MB peak RSS; packed, the run peaks at 86 MB.

A key above every packed one is new without a look-up: a source read in key order (the usual
SQL step) never searches the packed runs, and costs ~70 ns a key more than a plain set. For
other keys, a filter of the packed keys' hashes (one bit per slot, 16 to 64 slots a key, built
at the first such key) answers "never seen" for all but a few per cent; the rest are found by
binary search in the runs, so every answer is exact. Keys in random order cost ~1.5 us each
more than in a set. Runs grow with what is packed (an eighth of it), so they are never merged
(a merge would hold every key it merges as an object again) and a step of 10 million keys
has ~30.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from itertools import accumulate, chain

Key = tuple[str, ...]

SPILL = 1 << 15
_FILTER_BITS = 16  # filter slots per packed key, at least: ~6% false hits


def encode(key: Key) -> bytes:
    # surrogatepass: a key read from broken text still has exactly one encoding.
    return key[0].encode("utf-8", "surrogatepass") if len(key) == 1 else _encode_long(key)


def _encode_long(key: Key) -> bytes:
    return repr(key).encode("utf-8", "surrogatepass")


class _Run:
    """Keys in byte order, joined into ``blob``; ``ends[i]`` is where key ``i`` ends. A sequence
    of its keys, so that ``bisect`` searches it as it is."""

    __slots__ = ("blob", "ends", "high", "low")

    def __init__(self, keys: list[bytes]) -> None:
        keys.sort()  # runs of keys read in order: linear
        self.blob = b"".join(keys)
        self.ends = array("I" if len(self.blob) < 1 << 32 else "Q", accumulate(map(len, keys)))
        self.low, self.high = keys[0], keys[-1]

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> bytes:
        ends = self.ends
        return self.blob[ends[i - 1] if i else 0 : ends[i]]

    def has(self, key: bytes) -> bool:
        if not self.low <= key <= self.high:
            return False
        i = bisect_left(self, key)  # a sequence of bytes
        return i < len(self.ends) and self[i] == key

    def keys(self) -> list[bytes]:
        blob, ends = self.blob, self.ends
        return [blob[start:end] for start, end in zip(chain((0,), ends), ends, strict=False)]


class SeenKeys:
    def __init__(self, spill: int = SPILL) -> None:
        self._recent: set[bytes] = set()
        self._order: list[bytes] = []  # the same keys as read: in key order, packed in linear time
        self._runs: list[_Run] = []
        self._packed = 0
        self._high = b""  # the largest packed key
        self._bits: bytearray | None = None
        self._mask = 0
        self._spill = spill

    def add(self, key: Key) -> None:
        self.first(key)

    def first(self, key: Key) -> bool:
        """Add ``key``; whether it was new."""
        code = key[0].encode("utf-8", "surrogatepass") if len(key) == 1 else _encode_long(key)
        recent = self._recent
        # Out of key order only: the filter, then the runs.
        if code in recent or (self._runs and code <= self._high and self._packed_has(code)):
            return False
        recent.add(code)
        self._order.append(code)
        if len(recent) >= self._spill:
            self._pack()
        return True

    def count_first(self, keys: list[Key]) -> int:
        """Add ``keys``; how many were new (a changes run's unchanged keys, a batch at once)."""
        if all(len(k) == 1 for k in keys):
            codes = [k[0].encode("utf-8", "surrogatepass") for k in keys]
        else:
            codes = list(map(encode, keys))
        recent = self._recent
        if self._runs:
            high, packed_has = self._high, self._packed_has
            fresh = [c for c in dict.fromkeys(codes)
                     if c not in recent and (c > high or not packed_has(c))]
        else:
            fresh = [c for c in dict.fromkeys(codes) if c not in recent]
        recent.update(fresh)
        self._order += fresh
        if len(recent) >= self._spill:
            self._pack()
        return len(fresh)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple):
            return False
        code = encode(key)
        return code in self._recent or (
            bool(self._runs) and code <= self._high and self._packed_has(code))

    def __len__(self) -> int:
        return len(self._recent) + self._packed

    def _packed_has(self, code: bytes) -> bool:
        bits = self._bits
        if bits is None:
            bits = self._filter()
        slot = hash(code) & self._mask
        if not bits[slot >> 3] & (1 << (slot & 7)):
            return False
        return any(run.has(code) for run in self._runs)

    def _pack(self) -> None:
        runs = self._runs
        run = _Run(self._order)
        self._recent, self._order = set(), []
        runs.append(run)
        self._packed += len(run)
        self._high = max(self._high, run.high)
        # Runs grow with what is packed, so there are ~30 at 10 million keys and never a merge
        # (one would hold every key it merges as an object again).
        self._spill = max(self._spill, self._packed // 8)
        if self._bits is not None:
            if self._packed * _FILTER_BITS > self._mask + 1:
                self._filter()
            else:
                self._mark(self._bits, run)

    def _filter(self) -> bytearray:
        size = 1 << 16
        while size < 2 * self._packed * _FILTER_BITS:  # room to grow before it is built again
            size <<= 1
        bits = self._bits = bytearray(size >> 3)
        self._mask = size - 1
        for run in self._runs:
            self._mark(bits, run)
        return bits

    def _mark(self, bits: bytearray, run: _Run) -> None:
        mask = self._mask
        for slot in map(hash, run.keys()):
            slot &= mask
            bits[slot >> 3] |= 1 << (slot & 7)
