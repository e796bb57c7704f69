"""The invocation ledger: every invocation's record, batched into SQLite off the hot path.

``append`` only puts a tuple on a list; a background thread writes the batch every
``ledger_flush_interval_s`` (or sooner when ``ledger_batch_size`` records wait), and
``close`` writes what is left, so no record is lost on shutdown. Metrics and bills are
computed from the ledger, so a restarted platform reports the same figures.

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
import math
import sqlite3
import threading
from typing import Any

from ..config import Settings
from ..store import Store
from ._models import Billing, InvocationResult

__all__ = ["Ledger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    request_id TEXT NOT NULL,
    function_id TEXT NOT NULL,
    function_name TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration_ms REAL NOT NULL,
    billed_ms INTEGER NOT NULL,
    init_ms REAL NOT NULL,
    memory_mb INTEGER NOT NULL,
    memory_used_mb REAL NOT NULL,
    status TEXT NOT NULL,
    cold_start INTEGER NOT NULL,
    instance_id TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS ledger_function_time ON ledger(function_id, started_at);
CREATE INDEX IF NOT EXISTS ledger_request ON ledger(request_id);
CREATE TABLE IF NOT EXISTS invocation_logs (
    request_id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    logs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocation_logs_function ON invocation_logs(function_id, started_at);
"""

_COLUMNS = 13
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


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


class Ledger:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        store.ensure_schema("serverless.ledger", _SCHEMA)
        self._pending: list[tuple[Any, ...]] = []
        self._pending_logs: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        # Held from taking the pending rows to committing them: a reader that flushes
        # first (find, logs) waits for a flush already under way, so it sees its rows.
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._flusher = threading.Thread(target=self._run, name="ledger-flush", daemon=True)
        self._flusher.start()

    def append(self, result: InvocationResult) -> None:
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
            if result.logs:
                self._pending_logs.append(
                    (result.request_id, result.function_id, result.started_at, result.logs)
                )
            if len(self._pending) >= self._settings.ledger_batch_size:
                self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._settings.ledger_flush_interval_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write the pending records now; returns how many."""
        with self._flush_lock:
            return self._flush_locked()

    def _flush_locked(self) -> int:
        with self._lock:
            rows, self._pending = self._pending, []
            logs, self._pending_logs = self._pending_logs, []
        if not rows and not logs:
            return 0
        with self._store.transaction() as conn:
            _insert_rows(conn, rows)
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
        return len(rows)

    def close(self) -> None:
        """Stop the flusher and write everything still pending. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._flusher.join(timeout=5.0)
        if not self._store.closed:
            self.flush()

    # -- queries ---------------------------------------------------------------------
    def counts(self, function_id: str | None = None) -> dict[str, Any]:
        self.flush()
        where, params = ("WHERE function_id = ?", (function_id,)) if function_id else ("", ())
        rows = self._store.query(
            f"SELECT status, COUNT(*) AS n, SUM(cold_start) AS cold, "
            f"SUM(CASE WHEN cold_start = 1 THEN init_ms ELSE 0 END) AS init, "
            f"SUM(billed_ms) AS billed FROM ledger {where} GROUP BY status",
            params,
        )
        by_status = {r["status"]: r["n"] for r in rows}
        return {
            "by_status": by_status,
            "cold_starts": sum(r["cold"] or 0 for r in rows),
            "init_ms": sum(r["init"] or 0.0 for r in rows),
            "billed_ms": sum(r["billed"] or 0 for r in rows),
        }

    def durations(self, function_id: str) -> list[float]:
        rows = self._store.query(
            "SELECT duration_ms FROM ledger WHERE function_id = ? AND status != 'throttled' "
            "ORDER BY duration_ms",
            (function_id,),
        )
        return [r[0] for r in rows]

    def billing(self, function_id: str, function_name: str, start: float, end: float) -> Billing:
        self.flush()
        row = self._store.query_one(
            "SELECT COUNT(*) AS n, COALESCE(SUM(billed_ms), 0) AS ms, "
            "COALESCE(SUM(billed_ms * memory_mb), 0) AS mb_ms FROM ledger "
            "WHERE function_id = ? AND status != 'throttled' AND started_at >= ? AND started_at <= ?",
            (function_id, start, end),
        )
        assert row is not None
        gb_seconds = row["mb_ms"] / 1024.0 / 1000.0
        request_cost = row["n"] * self._settings.price_per_million_requests / 1_000_000
        compute_cost = gb_seconds * self._settings.price_per_gb_second
        return Billing(
            function_id,
            function_name,
            start,
            end,
            row["n"],
            int(row["ms"]),
            gb_seconds,
            request_cost,
            compute_cost,
            request_cost + compute_cost,
        )

    def find(self, request_id: str) -> dict[str, Any] | None:
        self.flush()
        row = self._store.query_one(
            "SELECT * FROM ledger WHERE request_id = ? ORDER BY started_at DESC LIMIT 1",
            (request_id,),
        )
        return dict(row) if row else None

    def logs(self, function_id: str, limit: int = 20) -> list[dict[str, Any]]:
        self.flush()
        rows = self._store.query(
            "SELECT request_id, started_at, logs FROM invocation_logs WHERE function_id = ? "
            "ORDER BY started_at DESC LIMIT ?",
            (function_id, limit),
        )
        return [dict(r) for r in reversed(rows)]
