"""Anomalies kept in the platform's SQLite store (table ``anomaly_events``).

The registry writes an anomaly when it opens, at most once per ``flush_interval_s``
while it continues (one row per anomaly, updated in place), and when it resolves. On
start it reloads the anomalies that were still open, so a restart does not forget them.
"""

from __future__ import annotations

import json
import math
import sqlite3

from ..store import Store
from ._records import Anomaly

__all__ = ["AnomalyTable"]


_COLUMNS = (
    "id",
    "metric_name",
    "type",
    "detected_value",
    "expected_value",
    "expected_low",
    "expected_high",
    "confidence",
    "severity",
    "recommendation",
    "instance_id",
    "detected_at",
    "last_seen_at",
    "resolved_at",
    "score",
    "points",
    "detector_id",
    "method",
    "details",
    "service_name",
)


def _finite_or_none(value: float | None) -> float | None:
    # SQLite stores inf but JSON exports of it break; keep an open range as NULL.
    if value is None or value in (float("inf"), float("-inf")):
        return None
    return value


class AnomalyTable:
    """Reads and writes :class:`Anomaly` rows through a shared :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, anomaly: Anomaly) -> None:
        """Insert or update one anomaly (its id is the key)."""
        row = (
            anomaly.id,
            anomaly.metric_name,
            anomaly.type,
            anomaly.detected_value,
            _finite_or_none(anomaly.expected_value),
            _finite_or_none(anomaly.expected_low),
            _finite_or_none(anomaly.expected_high),
            anomaly.confidence,
            anomaly.severity,
            anomaly.recommendation,
            anomaly.instance_id,
            anomaly.detected_at,
            anomaly.last_seen_at,
            anomaly.resolved_at,
            None if math.isnan(anomaly.score) else anomaly.score,  # no expected value
            anomaly.points,
            anomaly.detector_id,
            anomaly.method,
            json.dumps(_details(anomaly), sort_keys=True),
            anomaly.service_name,
        )
        placeholders = ", ".join("?" for _ in _COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "id")
        self.store.execute(
            f"INSERT INTO anomaly_events ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}",
            row,
        )

    def open_anomalies(self) -> list[Anomaly]:
        rows = self.store.query(
            "SELECT * FROM anomaly_events WHERE resolved_at IS NULL ORDER BY detected_at"
        )
        return [_from_row(r) for r in rows]

    def history(
        self, metric_name: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[Anomaly]:
        """Stored anomalies, newest first, optionally for one metric and after ``since``."""
        clauses: list[str] = []
        params: list[object] = []
        if metric_name is not None:
            clauses.append("metric_name = ?")
            params.append(metric_name)
        if since is not None:
            clauses.append("detected_at >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.store.query(
            f"SELECT * FROM anomaly_events {where} ORDER BY detected_at DESC LIMIT ?",
            (*params, int(limit)),
        )
        return [_from_row(r) for r in rows]

    def get(self, anomaly_id: str) -> Anomaly | None:
        row = self.store.query_one("SELECT * FROM anomaly_events WHERE id = ?", (anomaly_id,))
        return None if row is None else _from_row(row)

    def count(self) -> int:
        row = self.store.query_one("SELECT COUNT(*) AS n FROM anomaly_events")
        return int(row["n"]) if row is not None else 0


def _details(anomaly: Anomaly) -> dict[str, object]:
    # A multivariate anomaly's contributors travel in the details column (no migration).
    if not anomaly.contributors:
        return dict(anomaly.details)
    return {**anomaly.details, "contributors": list(anomaly.contributors)}


def _from_row(row: sqlite3.Row) -> Anomaly:
    values = {c: row[c] for c in _COLUMNS}
    details = json.loads(values["details"] or "{}")
    values["contributors"] = list(details.pop("contributors", []))
    values["details"] = details
    if values["score"] is None:
        values["score"] = math.nan
    return Anomaly(**values)
