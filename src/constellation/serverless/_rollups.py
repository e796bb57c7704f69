"""Ledger rollups: per function and minute, and per function for all time.

Written in the ledger's flush transaction, from the rows of that flush, so they hold
exactly what the raw rows held: counts per status, duration sums, billed-ms and
MB-ms sums (bills are exact sums, never estimates), cold starts and their init time, and
a mergeable duration sketch (:mod:`._sketch`). The raw rows can then be deleted after
the retention window without changing a bill or a metric.

* ``ledger_rollup``: one row per (function, minute, status). Bills over a range read it
  for the whole minutes inside the range, and the raw rows for the partial minutes at
  the ends (``billing``). Cost: the minutes in the range, not the invocations.
* ``ledger_totals``: one row per (function, status) for all time, with the Prometheus
  histogram bucket counts. ``get_function_metrics`` and ``get_serverless_stats`` read
  it (cost: the number of functions); the ``/metrics`` counters start from it.
* ``ledger_compaction``: ``kept_from``, the start of the oldest minute whose raw rows are
  kept. Rows before it are out of retention: not found, and deleted in batches.
"""

from __future__ import annotations

import math
import operator
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._sketch import Sketch, encode_values, merge_blobs

__all__ = [
    "INIT_BUCKETS_S",
    "INVOKE_BUCKETS_S",
    "KEPT_FROM_SQL",
    "MEM_BUCKETS_BYTES",
    "Aggregate",
    "Batch",
    "Total",
    "pack_counts",
    "unpack_counts",
]


# OpenTelemetry's recommended boundaries for faas.invoke_duration (5 ms ... 10 s), with
# 1 and 2.5 ms below (most handlers here finish in under 5 ms) and up to 900 s above
# (the longest timeout).
_OTEL_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
INVOKE_BUCKETS_S: tuple[float, ...] = (0.001, 0.0025, *_OTEL_BUCKETS_S, 30.0, 60.0, 300.0, 900.0)
INIT_BUCKETS_S = INVOKE_BUCKETS_S
_MEM_BUCKETS_MB = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 10240)
MEM_BUCKETS_BYTES = tuple(float(mb * 1024 * 1024) for mb in _MEM_BUCKETS_MB)
_INVOKE_MS = [b * 1000.0 for b in INVOKE_BUCKETS_S]
_MEM_MB = [b / 1024 / 1024 for b in MEM_BUCKETS_BYTES]

_AGG_COLUMNS = "n, duration_ms, billed_ms, mb_ms, cold, init_ms, sketch"
_ADD = (
    "n = n + excluded.n, duration_ms = duration_ms + excluded.duration_ms, "
    "billed_ms = billed_ms + excluded.billed_ms, mb_ms = mb_ms + excluded.mb_ms, "
    "cold = cold + excluded.cold, init_ms = init_ms + excluded.init_ms, "
    "sketch = sketch_merge(sketch, excluded.sketch)"
)
_UPSERT_ROLLUP = (
    f"INSERT INTO ledger_rollup (function_id, minute, status, {_AGG_COLUMNS}) "
    f"VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (function_id, minute, status) DO UPDATE SET {_ADD}"
)
_UPSERT_TOTAL = (
    f"INSERT INTO ledger_totals (function_id, status, function_name, {_AGG_COLUMNS}, "
    "invoke_buckets, init_buckets, mem_buckets, mem_mb) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    f"ON CONFLICT (function_id, status) DO UPDATE SET {_ADD}, "
    "function_name = excluded.function_name, "
    "invoke_buckets = counts_merge(invoke_buckets, excluded.invoke_buckets), "
    "init_buckets = counts_merge(init_buckets, excluded.init_buckets), "
    "mem_buckets = counts_merge(mem_buckets, excluded.mem_buckets), "
    "mem_mb = mem_mb + excluded.mem_mb"
)


def _bucket_counts(slots: Any, values: Any, bounds: list[float], n_slots: int) -> list[list[int]]:
    """Per slot, how many ``values`` fall in each bucket (at or below each bound; the
    last bucket is +Inf): one ``bincount`` over slot * buckets + bucket."""
    width = len(bounds) + 1
    flat = np.bincount(slots * width + np.searchsorted(bounds, values), minlength=n_slots * width)
    return flat.reshape(n_slots, width).tolist()


def _bucket_counts_one(values: Sequence[float], bounds: list[float]) -> list[int]:
    """:func:`_bucket_counts` for a single slot."""
    return _bucket_counts(0, np.asarray(values, np.float64), bounds, 1)[0]


def _pack_counts(counts: list[int]) -> bytes:
    """Histogram bucket counts as little-endian int64s (the totals' bucket columns)."""
    return np.array(counts, dtype="<i8").tobytes()


def _unpack_counts(blob: bytes) -> list[int]:
    return [int(n) for n in np.frombuffer(blob, dtype="<i8").tolist()]


def _counts_merge(a: bytes, b: bytes) -> bytes:
    return (np.frombuffer(a, dtype="<i8") + np.frombuffer(b, dtype="<i8")).tobytes()


pack_counts = _pack_counts  # for the per-trigger totals (_trigger_totals.py)
unpack_counts = _unpack_counts


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions the upserts use; registering again is harmless."""
    conn.create_function("sketch_merge", 2, merge_blobs, deterministic=True)
    conn.create_function("counts_merge", 2, _counts_merge, deterministic=True)


@dataclass
class Aggregate:
    """Sums over some invocations of one function with one status."""

    n: int = 0
    duration_ms: float = 0.0
    billed_ms: int = 0
    mb_ms: int = 0
    cold: int = 0
    init_ms: float = 0.0
    sketch: Sketch = field(default_factory=Sketch)

    def merge(self, other: Aggregate, sketch: bool = True) -> None:
        """Add ``other``'s sums (and its sketch, unless ``sketch`` is false: merging
        sketches in Python costs about a microsecond per bucket)."""
        self.n += other.n
        self.duration_ms += other.duration_ms
        self.billed_ms += other.billed_ms
        self.mb_ms += other.mb_ms
        self.cold += other.cold
        self.init_ms += other.init_ms
        if sketch:
            self.sketch.merge(other.sketch)

    def values(self, blob: bytes | None = None) -> tuple[Any, ...]:
        """The columns ``n .. sketch``; ``blob``: the sketch already encoded."""
        if blob is None and self.sketch.count:
            blob = self.sketch.encode()
        return (self.n, self.duration_ms, self.billed_ms, self.mb_ms, self.cold, self.init_ms, blob)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Aggregate:
        """From the columns ``n, duration_ms, billed_ms, mb_ms, cold, init_ms, sketch``."""
        n, duration, billed, mb_ms, cold, init, blob = row
        return cls(n, duration, billed, mb_ms, cold, init, Sketch.decode(blob))


@dataclass
class Total:
    """All-time sums of one function and status, with the histogram bucket counts."""

    function_name: str
    agg: Aggregate = field(default_factory=Aggregate)
    invoke: list[int] = field(default_factory=lambda: [0] * (len(_INVOKE_MS) + 1))
    init: list[int] = field(default_factory=lambda: [0] * (len(_INVOKE_MS) + 1))
    mem: list[int] = field(default_factory=lambda: [0] * (len(_MEM_MB) + 1))
    mem_mb: float = 0.0  # the sum of peak memory over the invocations (for the histogram)

    def merge(self, other: Total, sketch: bool = True) -> None:
        self.function_name = other.function_name
        self.agg.merge(other.agg, sketch)
        self.mem_mb += other.mem_mb
        for mine, theirs in ((self.invoke, other.invoke), (self.init, other.init)):
            for i, n in enumerate(theirs):
                mine[i] += n
        for i, n in enumerate(other.mem):
            self.mem[i] += n


class Batch:
    """One flush's ledger rows aggregated per (function, minute, status) and per
    (function, status). Bucket lists count per bucket (not cumulative); the last
    entry is the +Inf bucket."""

    def __init__(self, rows: Iterable[Sequence[Any]] = ()) -> None:
        self.minutes: dict[tuple[str, int, str], Aggregate] = {}
        self.totals: dict[tuple[str, str], Total] = {}  # their sketches are left empty
        self._blobs: dict[tuple[str, int, str], bytes | None] = {}
        self._total_blobs: dict[tuple[str, str], bytes | None] = {}
        self._add_rows(rows)

    def _add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Aggregate the rows column-wise in numpy: per key, the only Python is building
        its Aggregate. (Row by row in Python this held the GIL for about a microsecond per
        invocation on the ledger thread, time taken from the thread serving calls.)"""
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        # (request_id, function_id, function_name, started_at, duration_ms, billed_ms,
        #  init_ms, memory_mb, memory_used_mb, status, cold_start, instance_id, error)
        columns = list(zip(*rows, strict=True))
        _, fids, names, started, durations, billed, inits, memory, used, statuses, cold = columns[
            :11
        ]
        n = len(rows)
        fid, status = fids[0], statuses[0]
        if (
            fids.count(fid) == n
            and statuses.count(status) == n
            and min(started) // 60.0 == max(started) // 60.0
        ):
            self._add_one_key(fid, names[0], status, int(started[0] // 60.0), columns[4:11])
            return
        fid_index = {f: i for i, f in enumerate(dict.fromkeys(fids))}
        status_index = {s: i for i, s in enumerate(dict.fromkeys(statuses))}
        pair_of_row = np.fromiter(map(fid_index.__getitem__, fids), np.int64, n) * len(
            status_index
        ) + np.fromiter(map(status_index.__getitem__, statuses), np.int64, n)
        minute = np.floor_divide(np.asarray(started, np.float64), 60.0).astype(np.int64)
        first_minute = int(minute.min())
        span = int(minute.max()) - first_minute + 1
        keys, key_of_row = np.unique(
            pair_of_row * span + (minute - first_minute), return_inverse=True
        )
        key_of_row = key_of_row.ravel()
        n_keys = len(keys)

        billed_arr = np.asarray(billed, np.float64)
        cold_arr = np.asarray(cold, np.float64) != 0
        init_arr = np.asarray(inits, np.float64)
        ran = pair_of_row % len(status_index) != status_index.get("throttled", -1)
        dur_arr = np.asarray(durations, np.float64)

        def per_key(weights: Any) -> list[float]:
            return np.bincount(key_of_row, weights=weights, minlength=n_keys).tolist()

        counts = np.bincount(key_of_row, minlength=n_keys).tolist()
        billed_sums = per_key(billed_arr)
        mb_ms_sums = per_key(billed_arr * np.asarray(memory, np.float64))
        cold_sums = per_key(cold_arr)
        init_sums = per_key(np.where(cold_arr, init_arr, 0.0))
        duration_sums = per_key(np.where(ran, dur_arr, 0.0))

        # durations of the rows that ran, grouped by key, for the sketches
        ran_keys = key_of_row[ran]
        order = np.argsort(ran_keys, kind="stable")
        grouped = dur_arr[ran][order]
        bounds = np.searchsorted(ran_keys[order], np.arange(n_keys + 1))

        fid_list, status_list = list(fid_index), list(status_index)
        pairs = (keys // span).tolist()
        pair_ids_arr, first_rows = np.unique(pair_of_row, return_index=True)
        first_row_of_pair = dict(zip(pair_ids_arr.tolist(), first_rows.tolist(), strict=True))
        for k, key in enumerate(keys.tolist()):
            pair = pairs[k]
            fid = fid_list[pair // len(status_list)]
            status = status_list[pair % len(status_list)]
            mkey = (fid, first_minute + key % span, status)
            agg = self.minutes[mkey] = Aggregate(
                counts[k],
                duration_sums[k],
                round(billed_sums[k]),
                round(mb_ms_sums[k]),
                round(cold_sums[k]),
                init_sums[k],
            )
            total = self.totals.get((fid, status))
            if total is None:
                total = self.totals[(fid, status)] = Total(names[first_row_of_pair[pair]])
            total.agg.merge(agg, sketch=False)
            blob = self._blobs[mkey] = encode_values(grouped[bounds[k] : bounds[k + 1]])
            self._total_blobs[(fid, status)] = merge_blobs(
                self._total_blobs.get((fid, status)), blob
            )

        # histogram bucket counts per (function, status), over all the keys at once
        pair_ids = pair_ids_arr.tolist()  # sorted
        slot_of_row = np.searchsorted(pair_ids_arr, pair_of_row)
        invoke = _bucket_counts(slot_of_row[ran], dur_arr[ran], _INVOKE_MS, len(pair_ids))
        init = _bucket_counts(slot_of_row[cold_arr], init_arr[cold_arr], _INVOKE_MS, len(pair_ids))
        used_arr = np.asarray(used, np.float64)[ran]
        mem = _bucket_counts(slot_of_row[ran], used_arr, _MEM_MB, len(pair_ids))
        mem_sums = np.bincount(slot_of_row[ran], weights=used_arr, minlength=len(pair_ids))
        for i, pair in enumerate(pair_ids):
            total = self.totals[
                (fid_list[pair // len(status_list)], status_list[pair % len(status_list)])
            ]
            for mine, found in (
                (total.invoke, invoke[i]),
                (total.init, init[i]),
                (total.mem, mem[i]),
            ):
                for b, count in enumerate(found):
                    mine[b] += count
            total.mem_mb += float(mem_sums[i])

    def _add_one_key(
        self, fid: str, name: str, status: str, minute: int, columns: list[tuple[Any, ...]]
    ) -> None:
        """:meth:`_add_rows` for a flush of one function, status and minute (the usual
        case): builtin sums over the columns and a few numpy calls, where the general
        path makes about sixty (each one a fixed cost, and a GIL hand-off)."""
        durations, billed, inits, memory, used, _, cold = columns
        ran = status != "throttled"
        n_cold = sum(cold)
        cold_inits = [i for c, i in zip(cold, inits, strict=True) if c] if n_cold else []
        agg = Aggregate(
            len(durations),
            float(sum(durations)) if ran else 0.0,
            sum(billed),
            sum(map(operator.mul, billed, memory)),
            n_cold,
            float(sum(cold_inits, 0.0)),
        )
        key = (fid, minute, status)
        self.minutes[key] = agg
        total = self.totals[(fid, status)] = Total(name)
        total.agg.merge(agg, sketch=False)
        self._blobs[key] = self._total_blobs[(fid, status)] = (
            encode_values(durations) if ran else None
        )
        if ran:
            total.invoke = _bucket_counts_one(durations, _INVOKE_MS)
            total.mem = _bucket_counts_one(used, _MEM_MB)
            total.mem_mb = float(sum(used))
        if cold_inits:
            total.init = _bucket_counts_one(cold_inits, _INVOKE_MS)

    def write(self, conn: sqlite3.Connection) -> None:
        """Add this batch to the stored rollups and totals (inside the flush's transaction)."""
        register_functions(conn)
        conn.executemany(
            _UPSERT_ROLLUP,
            [(*key, *agg.values(self._blobs[key])) for key, agg in self.minutes.items()],
        )
        conn.executemany(
            _UPSERT_TOTAL,
            [
                (
                    fid,
                    status,
                    t.function_name,
                    *t.agg.values(self._total_blobs[(fid, status)]),
                    _pack_counts(t.invoke),
                    _pack_counts(t.init),
                    _pack_counts(t.mem),
                    t.mem_mb,
                )
                for (fid, status), t in self.totals.items()
            ],
        )


Fetch = Callable[[str, tuple[Any, ...]], Sequence[Sequence[Any]]]
"""Runs a query: ``Store.query``, or a transaction's ``conn.execute(...).fetchall()``."""


def read_totals(
    fetch: Fetch, function_id: str | None = None, sketches: bool = True
) -> dict[tuple[str, str], Total]:
    """The stored all-time totals, per (function id, status); without ``sketches`` their
    sketches are left empty (decoding one costs up to ~50 us)."""
    where, params = ("WHERE function_id = ?", (function_id,)) if function_id else ("", ())
    rows = fetch(
        f"SELECT function_id, status, function_name, {_AGG_COLUMNS}, invoke_buckets, "
        f"init_buckets, mem_buckets, mem_mb FROM ledger_totals {where}",
        params,
    )
    return {
        (r[0], r[1]): Total(
            r[2],
            Aggregate.from_row(tuple(r[3:10]) if sketches else (*r[3:9], None)),
            _unpack_counts(r[10]),
            _unpack_counts(r[11]),
            _unpack_counts(r[12]),
            r[13],
        )
        for r in rows
    }


KEPT_FROM_SQL = "COALESCE((SELECT kept_from FROM ledger_compaction WHERE id = 0), -1e308)"
"""Where the raw rows in retention begin, as an SQL expression (-1e308 before any compaction)."""


def kept_from(fetch: Fetch) -> float:
    """Where the raw rows in retention begin (``-inf`` before the first compaction)."""
    rows = fetch("SELECT kept_from FROM ledger_compaction WHERE id = 0", ())
    return float(rows[0][0]) if rows else -math.inf


def minutes_sum(
    conn: sqlite3.Connection, function_id: str, first: int, last: int, billable: bool
) -> Aggregate:
    """The rollups of minutes ``first .. last - 1`` merged (billable: throttled left out).
    Sketches are merged encoded (numpy), then decoded once."""
    skip = "AND status != 'throttled'" if billable else ""
    total, blob = Aggregate(), None
    for row in conn.execute(
        f"SELECT {_AGG_COLUMNS} FROM ledger_rollup WHERE function_id = ? "
        f"AND minute >= ? AND minute < ? {skip}",
        (function_id, first, last),
    ):
        total.merge(Aggregate(*row[:6]), sketch=False)
        blob = merge_blobs(blob, row[6])
    total.sketch = Sketch.decode(blob)
    return total
