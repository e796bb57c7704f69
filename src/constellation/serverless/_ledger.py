"""The invocation ledger: every invocation's record, batched into SQLite off the hot path.

``append`` only puts a tuple on a list; a background thread writes the batch every
``ledger_flush_interval_s`` (or sooner when ``ledger_batch_size`` records wait), and
``close`` writes what is left, so no record is lost on shutdown.

A flush writes, in one transaction, the raw rows and their rollups (:mod:`._rollups`:
sums per function and minute, and per function for all time), then adds its aggregate
to the Prometheus collector (:mod:`._prometheus`). Metrics, bills and ``/metrics`` read
the rollups and totals, so they cost the same after a billion invocations as after ten;
a restarted platform reports the same figures. Raw rows (and captured logs) are kept
for ``ledger_retention_s``: the ledger thread deletes older ones in bounded batches
(``compact``), and ``find``/``logs`` answer as if they were gone as soon as they are out
of retention. Bills and metrics are unchanged by it: the rollups hold their sums.

A batch goes to SQLite as multi-row ``INSERT ... VALUES (...), (...)`` statements of up
to 64 rows, not one statement per row: SQLite then works through 64 rows at a time
without the GIL, where binding row by row took it back thousands of times a second from
the thread that serves requests. (An earlier version sent the batch as one JSON array
through ``json_each``; SQLite before 3.45 parses each row's JSON once per column, which
cost twice the CPU of these statements.)
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..store import Store
from ._models import Billing, InvocationResult
from ._prometheus import LedgerMetrics
from ._rollups import (
    KEPT_FROM_SQL,
    Aggregate,
    Batch,
    Total,
    kept_from,
    minutes_sum,
    read_totals,
)
from ._trigger_totals import read_trigger_totals, trigger_totals, write_trigger_totals

__all__ = ["Ledger"]

log = logging.getLogger("constellation.serverless")


_COLUMNS = 13
_COMPACT_EVERY_S = 60.0  # how often the ledger thread looks for rows out of retention
_COMPACT_BATCH = 5000  # rows deleted per transaction
_COMPACT_BATCHES = 20  # transactions per pass; the next pass follows the next flush
_T_MAX = 2.0**40  # bill ranges are clamped to +-35,000 years (math.inf is allowed)
_CHUNK = 64  # rows per statement: 832 parameters, under SQLite's oldest limit of 999
_INSERT_LOG = "INSERT OR REPLACE INTO invocation_logs VALUES (?,?,?,?)"


@functools.lru_cache(maxsize=_CHUNK)
def _insert_rows_sql(rows: int) -> str:
    row = "(" + ",".join("?" * _COLUMNS) + ")"
    return "INSERT INTO ledger VALUES " + ",".join([row] * rows)


def _insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        conn.execute(_insert_rows_sql(len(chunk)), tuple(itertools.chain.from_iterable(chunk)))


def billed_ms(result: InvocationResult) -> int:
    """Billed duration: run time plus a cold start's init time, rounded up to 1 ms."""
    if result.status == "throttled":
        return 0
    return max(
        1, math.ceil(result.duration_ms + (result.init_duration_ms if result.cold_start else 0.0))
    )


class Ledger:
    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        # The rollup tables are schema version 3; rows ledgered before them are rolled up
        # here, once, because that needs the sketch code the schema module cannot import.
        _backfill_rollups(store)
        self.metrics = LedgerMetrics()
        self.metrics.invocations.add(read_totals(store.query, sketches=False))
        self.metrics.invocations.add_by_trigger(read_trigger_totals(store.query))
        self._pending: list[tuple[Any, ...]] = []
        self._pending_triggers: list[str | None] = []  # beside each pending row
        self._pending_logs: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        # Held from taking the pending rows to committing them: a reader that flushes
        # first (find, logs) waits for a flush already under way, so it sees its rows.
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._flusher = threading.Thread(target=self._run, name="ledger-flush", daemon=True)
        self._flusher.start()

    def append(self, result: InvocationResult, trigger: str | None = None) -> None:
        """Record ``result``; ``trigger`` (http, timer, queue, stream, event; None: a
        direct call) goes to the per-trigger totals only."""
        row = (
            result.request_id,
            result.function_id,
            result.function_name,
            result.started_at,
            result.duration_ms,
            result.billed_duration_ms,
            result.init_duration_ms,
            result.memory_limit_mb,
            result.memory_used_mb,
            result.status,
            int(result.cold_start),
            result.instance_id,
            (result.error or None) and result.error[:2000],
        )
        with self._lock:
            self._pending.append(row)
            self._pending_triggers.append(trigger)
            if result.logs:
                self._pending_logs.append(
                    (result.request_id, result.function_id, result.started_at, result.logs)
                )
            if len(self._pending) >= self._settings.ledger_batch_size:
                self._wake.set()

    def _run(self) -> None:
        next_compaction = time.monotonic()
        while not self._closed:
            self._wake.wait(self._settings.ledger_flush_interval_s)
            self._wake.clear()
            self.flush()
            if time.monotonic() >= next_compaction and not self._closed:
                finished = True
                try:
                    finished = self.compact() < _COMPACT_BATCH * _COMPACT_BATCHES
                except sqlite3.Error:  # a busy database must not stop the flushes
                    log.exception("ledger compaction failed; retrying in %.0f s", _COMPACT_EVERY_S)
                next_compaction = time.monotonic() + (_COMPACT_EVERY_S if finished else 0.0)

    def flush(self) -> int:
        """Write the pending records now; returns how many."""
        with self._flush_lock:
            return self._flush_locked()

    def _flush_locked(self) -> int:
        with self._lock:
            rows, self._pending = self._pending, []
            triggers, self._pending_triggers = self._pending_triggers, []
            logs, self._pending_logs = self._pending_logs, []
        if not rows and not logs:
            return 0
        batch = Batch(rows)
        by_trigger = trigger_totals(rows, triggers, batch) if rows else {}
        with self._store.transaction() as conn:
            _insert_rows(conn, rows)
            batch.write(conn)
            write_trigger_totals(conn, by_trigger)
            if logs:
                conn.executemany(_INSERT_LOG, logs)
                keep = self._settings.log_keep_per_function
                for function_id in {log[1] for log in logs}:
                    conn.execute(
                        "DELETE FROM invocation_logs WHERE function_id = ? AND started_at < "
                        "(SELECT started_at FROM invocation_logs WHERE function_id = ? "
                        "ORDER BY started_at DESC LIMIT 1 OFFSET ?)",
                        (function_id, function_id, keep - 1),
                    )
        self.metrics.invocations.add(batch.totals)
        self.metrics.invocations.add_by_trigger(by_trigger)
        return len(rows)

    def compact(self, now: float | None = None) -> int:
        """Put the raw rows (and logs) started before ``now - ledger_retention_s`` out of
        retention, and delete up to a pass's worth of them; returns how many were deleted.

        The boundary is whole minutes, so a minute's rollup is either all in retention or
        all out. It is recorded first: a row not yet deleted is already "not found", and
        a bill already takes its minute from the rollup, so a pass cut short changes no
        answer."""
        now = self._clock() if now is None else now
        cutoff = math.floor((now - self._settings.ledger_retention_s) / 60.0) * 60.0
        with self._store.transaction() as conn:
            if cutoff > kept_from(_fetcher(conn)):
                conn.execute("INSERT OR REPLACE INTO ledger_compaction VALUES (0, ?)", (cutoff,))
        deleted = 0
        for table in ("ledger", "invocation_logs"):
            for _ in range(_COMPACT_BATCHES):
                with self._store.transaction() as conn:
                    n = conn.execute(_delete_oldest_sql(table), (cutoff,)).rowcount
                deleted += n
                if n == 0:
                    break
        return deleted

    def kept_from(self) -> float:
        """When the raw rows in retention begin (``-inf`` until the first compaction)."""
        return kept_from(self._store.query)

    def close(self) -> None:
        """Stop the flusher and write everything still pending. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._flusher.join(timeout=5.0)
        if not self._store.closed:
            self.flush()
        self.metrics.close()

    # -- queries ---------------------------------------------------------------------
    def totals(
        self, function_id: str | None = None, sketches: bool = True
    ) -> dict[tuple[str, str], Total]:
        """All-time totals per (function id, status), from the rollups (not the raw rows);
        ``sketches=False`` leaves the duration sketches out (they are slower to read)."""
        self.flush()
        return read_totals(self._store.query, function_id, sketches)

    def counts(self, function_id: str | None = None) -> dict[str, Any]:
        totals = self.totals(function_id, sketches=False)
        by_status: dict[str, int] = {}
        for (_, status), total in totals.items():
            by_status[status] = by_status.get(status, 0) + total.agg.n
        aggs = [t.agg for t in totals.values()]
        return {
            "by_status": by_status,
            "cold_starts": sum(a.cold for a in aggs),
            "init_ms": sum(a.init_ms for a in aggs),
            "billed_ms": sum(a.billed_ms for a in aggs),
            "mb_ms": sum(a.mb_ms for s, a in zip(totals, aggs, strict=True) if s[1] != "throttled"),
        }

    def window(self, function_id: str, start: float, end: float) -> Aggregate:
        """The rollups of the whole minutes from ``start`` to ``end`` merged (every status
        but throttled): counts, sums and the duration sketch of a period."""
        self.flush()
        with self._store.transaction() as conn:  # one snapshot of the minutes
            return minutes_sum(
                conn, function_id, math.floor(start / 60.0), math.ceil(end / 60.0), True
            )

    def billing(self, function_id: str, function_name: str, start: float, end: float) -> Billing:
        """The bill for invocations started in [start, end]: the whole minutes inside the
        range from the rollups, the partial minutes at its ends from the raw rows. Out of
        retention there are no raw rows: an end minute then counts whole if it begins
        inside the range."""
        self.flush()
        start, end = max(start, -_T_MAX), min(end, _T_MAX)
        lo, hi = math.ceil(start / 60.0), math.floor(end / 60.0)  # whole minutes lo..hi-1
        with self._store.transaction() as conn:
            kept = kept_from(_fetcher(conn))
            if lo < hi:
                n, ms, mb_ms = _billable_minutes(conn, function_id, lo, hi)
                segments = [(start, 60.0 * lo), (60.0 * hi, math.nextafter(end, math.inf))]
                edges = {math.floor(start / 60.0), hi} - {lo}
            else:
                n = ms = mb_ms = 0
                segments = [(start, math.nextafter(end, math.inf))]
                edges = {math.floor(start / 60.0), hi}
            for low, high in segments:
                row = conn.execute(
                    "SELECT COUNT(*), COALESCE(SUM(billed_ms), 0), "
                    "COALESCE(SUM(billed_ms * memory_mb), 0) FROM ledger WHERE function_id = ? "
                    "AND status != 'throttled' AND started_at >= ? AND started_at < ?",
                    (function_id, max(low, kept), high),
                ).fetchone()
                n, ms, mb_ms = n + row[0], ms + row[1], mb_ms + row[2]
            for minute in edges:
                if 60.0 * (minute + 1) <= kept and start <= 60.0 * minute < end:
                    row = _billable_minutes(conn, function_id, minute, minute + 1)
                    n, ms, mb_ms = n + row[0], ms + row[1], mb_ms + row[2]
        gb_seconds = mb_ms / 1024.0 / 1000.0
        request_cost = n * self._settings.price_per_million_requests / 1_000_000
        compute_cost = gb_seconds * self._settings.price_per_gb_second
        return Billing(
            function_id,
            function_name,
            start,
            end,
            n,
            int(ms),
            gb_seconds,
            request_cost,
            compute_cost,
            request_cost + compute_cost,
        )

    def find(self, request_id: str) -> dict[str, Any] | None:
        """A record in retention, or None."""
        self.flush()
        row = self._store.query_one(
            f"SELECT * FROM ledger WHERE request_id = ? AND started_at >= {KEPT_FROM_SQL} "
            "ORDER BY started_at DESC LIMIT 1",
            (request_id,),
        )
        return dict(row) if row else None

    def logs(self, function_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The newest captured logs in retention, newest last."""
        self.flush()
        rows = self._store.query(
            "SELECT request_id, started_at, logs FROM invocation_logs WHERE function_id = ? "
            f"AND started_at >= {KEPT_FROM_SQL} ORDER BY started_at DESC LIMIT ?",
            (function_id, limit),
        )
        return [dict(r) for r in reversed(rows)]


def _backfill_rollups(store: Store) -> None:
    """Roll up the raw rows of a ledger written before rollups existed (once: when it
    has rows and no totals), so its bills and metrics survive compaction. One
    transaction, read in rowid chunks: about 4 s per million rows on a 2-core machine."""
    with store.transaction() as conn:
        has_totals = conn.execute("SELECT 1 FROM ledger_totals LIMIT 1").fetchone()
        if has_totals or not conn.execute("SELECT 1 FROM ledger LIMIT 1").fetchone():
            return
        after = -1
        while True:
            rows = conn.execute(
                "SELECT rowid, * FROM ledger WHERE rowid > ? ORDER BY rowid LIMIT 50000",
                (after,),
            ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            chunk = [tuple(r)[1:] for r in rows]
            batch = Batch(chunk)
            batch.write(conn)
            # no trigger was recorded then: 'other', as schema version 4 carries them over
            write_trigger_totals(conn, trigger_totals(chunk, [None] * len(chunk), batch))


def _delete_oldest_sql(table: str) -> str:
    """Delete, among the ``_COMPACT_BATCH`` oldest rows by rowid, those started before ?.

    Rows are appended as invocations finish, so rowid order is start order give or take
    the longest timeout: looking at the oldest rows only costs a batch, where a scan for
    ``started_at < ?`` would read the whole table when nothing is out of retention. A
    row that finished long after it started is deleted a pass or two later; it is out of
    retention (not found, not billed from raw rows) from the moment the boundary moves."""
    oldest = f"SELECT rowid, started_at FROM {table} ORDER BY rowid LIMIT {_COMPACT_BATCH}"
    return f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM ({oldest}) WHERE started_at < ?)"


def _fetcher(conn: sqlite3.Connection) -> Callable[[str, tuple[Any, ...]], list[Any]]:
    return lambda sql, params: conn.execute(sql, params).fetchall()


def _billable_minutes(
    conn: sqlite3.Connection, function_id: str, first: int, last: int
) -> tuple[int, int, int]:
    """Invocations, billed ms and MB-ms of minutes ``first .. last - 1`` (throttled left out)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(billed_ms), 0), COALESCE(SUM(mb_ms), 0) "
        "FROM ledger_rollup WHERE function_id = ? AND minute >= ? AND minute < ? "
        "AND status != 'throttled'",
        (function_id, first, last),
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])
