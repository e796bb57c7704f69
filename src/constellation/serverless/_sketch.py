"""A mergeable quantile sketch of durations, stored compactly in SQLite.

The sketch is the ``ddsketch`` package's (DataDog's DDSketch: logarithmic buckets, so a
quantile it returns is within ``RELATIVE_ACCURACY`` of the true value's *rank
neighbour*: for any q, the estimate lies within 1% of the exact nearest-rank value).
Two sketches merge by adding their bucket counts, which is what lets per-minute rollups
be summed into a day's or all time's percentiles.

What is ours is only the encoding. The package's own serialisation goes through
protobuf and writes the dense bucket array as 8-byte doubles (about 6 KB for a spread
of 200k values); a minute's rollup holds a handful of buckets, so we write the lowest
bucket key and the counts as varints (typically 5-40 bytes). Durations are never
negative, so only the positive store and the zero count are kept.
"""

from __future__ import annotations

import math

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

__all__ = ["RELATIVE_ACCURACY", "Sketch", "merge_blobs"]

RELATIVE_ACCURACY = 0.01
_VERSION = 1
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)


def _put_varint(out: bytearray, value: int) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


class Sketch:
    """Durations (ms, >= 0) in a DDSketch of 1% relative accuracy."""

    __slots__ = ("_sketch", "_store", "_zero")

    def __init__(self) -> None:
        self._store = DenseStore()
        self._zero = 0
        self._sketch = BaseDDSketch(_MAPPING, self._store, DenseStore(), 0)

    @property
    def count(self) -> int:
        return int(self._sketch.count)

    def add(self, value: float) -> None:
        self._sketch.add(value if value > 0 else 0.0)

    def merge(self, other: Sketch) -> None:
        if other.count:
            self._sketch.merge(other._sketch)

    def quantile(self, q: float) -> float:
        """The nearest-rank value at quantile ``q`` (0..1), within 1%; 0.0 when empty.

        Nearest rank (the ceil(q * n)-th smallest), as the ledger's exact percentiles
        were: the package's ``get_quantile_value`` interpolates the rank as q * (n - 1),
        which for six values makes p99 the fifth."""
        n = self.count
        if not n:
            return 0.0
        rank = max(1, math.ceil(q * n)) - (n - int(self._store.count))  # past the zeros
        if rank <= 0:
            return 0.0
        # the first bucket whose running count reaches rank (0.5: clear of float edges)
        key = self._store.key_at_rank(rank - 0.5)
        return float(_MAPPING.value(key))

    def encode(self) -> bytes:
        store = self._store
        out = bytearray([_VERSION])
        zero = int(self._sketch.count - store.count)
        _put_varint(out, zero)
        if store.count:
            first = store.min_key - store.offset
            counts = store.bins[first : store.max_key - store.offset + 1]
            _put_varint(out, (store.min_key << 1) ^ (store.min_key >> 63))  # zigzag
            _put_varint(out, len(counts))
            for n in counts:
                _put_varint(out, int(n))
        return bytes(out)

    @classmethod
    def decode(cls, blob: bytes | None) -> Sketch:
        sketch = cls()
        if not blob:
            return sketch
        if blob[0] != _VERSION:
            raise ValueError(f"unknown sketch encoding {blob[0]}")
        zero, pos = _get_varint(blob, 1)
        store = DenseStore()
        if pos < len(blob):
            zigzag, pos = _get_varint(blob, pos)
            key = (zigzag >> 1) ^ -(zigzag & 1)
            length, pos = _get_varint(blob, pos)
            for i in range(length):
                n, pos = _get_varint(blob, pos)
                if n:
                    store.add(key + i, float(n))
        sketch._store = store
        sketch._sketch = BaseDDSketch(_MAPPING, store, DenseStore(), zero)
        return sketch


def merge_blobs(a: bytes | None, b: bytes | None) -> bytes:
    """Two encoded sketches merged (a SQLite function for the rollup upserts)."""
    merged = Sketch.decode(a)
    merged.merge(Sketch.decode(b))
    return merged.encode()
