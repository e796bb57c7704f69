"""Per-minute time series read from the ledger's rollups (for the dashboard's charts).

The ledger already keeps, per function and minute, counts, duration sums and a duration
sketch (:mod:`._rollups`); these functions only read them back as columns, so a day of
one function's chart costs 1,440 rows, and the overview's sparklines for every function
one indexed range per function. Minutes with no invocation are left out (the charts
draw them as gaps or zeros as they please).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..store import Store
from ._sketch import _MAPPING, _parse, merge_blobs

__all__ = ["function_series", "minute_counts", "quantiles", "recent_invocations"]


def function_series(store: Store, function_id: str, first: int, last: int) -> dict[str, list[Any]]:
    """Minutes ``first .. last - 1`` of one function: columns ``minute`` (unix minute),
    ``invocations`` (throttled left out), ``errors``, ``throttled``, ``cold_starts``,
    ``mean_ms``, ``p50_ms``, ``p99_ms``."""
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "minute",
            "invocations",
            "errors",
            "throttled",
            "cold_starts",
            "mean_ms",
            "p50_ms",
            "p99_ms",
        )
    }
    rows = store.query(
        "SELECT minute, status, n, duration_ms, cold, sketch FROM ledger_rollup "
        "WHERE function_id = ? AND minute >= ? AND minute < ? ORDER BY minute",
        (function_id, first, last),
    )
    current: int | None = None
    n = errors = throttled = cold = 0
    total_ms = 0.0
    blob: bytes | None = None

    def close_minute() -> None:
        p50, p99 = quantiles(blob, (0.5, 0.99))
        out["minute"].append(current)
        out["invocations"].append(n)
        out["errors"].append(errors)
        out["throttled"].append(throttled)
        out["cold_starts"].append(cold)
        out["mean_ms"].append(round(total_ms / n, 3) if n else None)
        out["p50_ms"].append(round(p50, 3) if n else None)
        out["p99_ms"].append(round(p99, 3) if n else None)

    for minute, status, count, duration, cold_count, sketch_blob in rows:
        if minute != current:
            if current is not None:
                close_minute()
            current, n, errors, throttled, cold, total_ms, blob = minute, 0, 0, 0, 0, 0.0, None
        if status == "throttled":
            throttled += count
            continue
        n += count
        errors += count if status != "success" else 0
        cold += cold_count
        total_ms += duration
        blob = merge_blobs(blob, sketch_blob)
    if current is not None:
        close_minute()
    return out


def minute_counts(store: Store, first: int, last: int) -> dict[str, dict[str, list[int]]]:
    """Every function's invocations and errors per minute in ``first .. last - 1``, by
    function id: ``{"minute": [...], "invocations": [...], "errors": [...],
    "cold_starts": [...]}``. One indexed range per function (the rollups' key begins
    with the function id; CROSS JOIN keeps SQLite from scanning every function's
    history instead), not a scan of the table."""
    rows = store.query(
        "SELECT r.function_id, r.minute, "
        "SUM(CASE WHEN r.status != 'throttled' THEN r.n ELSE 0 END), "
        "SUM(CASE WHEN r.status NOT IN ('success', 'throttled') THEN r.n ELSE 0 END), "
        "SUM(r.cold) "
        "FROM functions f CROSS JOIN ledger_rollup r ON r.function_id = f.id "
        "AND r.minute >= ? AND r.minute < ? GROUP BY r.function_id, r.minute",
        (first, last),
    )
    out: dict[str, dict[str, list[int]]] = {}
    for function_id, minute, n, errors, cold in rows:
        series = out.get(function_id)
        if series is None:
            series = out[function_id] = {
                "minute": [],
                "invocations": [],
                "errors": [],
                "cold_starts": [],
            }
        series["minute"].append(minute)
        series["invocations"].append(n)
        series["errors"].append(errors)
        series["cold_starts"].append(cold)
    return out


def recent_invocations(store: Store, function_id: str, limit: int) -> list[dict[str, Any]]:
    """The function's newest ledgered invocations (raw rows in retention), newest first,
    each with its captured logs when there are any."""
    rows = store.query(
        "SELECT l.request_id, l.started_at, l.duration_ms, l.status, l.cold_start, "
        "l.instance_id, l.error, g.logs FROM ledger l LEFT JOIN invocation_logs g "
        "ON g.request_id = l.request_id WHERE l.function_id = ? "
        "ORDER BY l.started_at DESC LIMIT ?",
        (function_id, limit),
    )
    return [dict(r) for r in rows]


def quantiles(blob: bytes | None, qs: Sequence[float]) -> list[float]:
    """Nearest-rank quantiles of an encoded sketch, as :meth:`Sketch.quantile` gives
    them, read from its bucket counts in numpy: a day of minutes is 1,440 sketches, and
    building each as a DDSketch to walk its buckets in Python cost most of a function
    page's time."""
    if not blob:
        return [0.0] * len(qs)
    zero, key, counts = _parse(blob)
    running = np.cumsum(counts)
    n = zero + (int(running[-1]) if len(running) else 0)
    out = []
    for q in qs:
        rank = max(1, math.ceil(q * n)) - zero  # past the zeros
        if rank <= 0 or not len(running):
            out.append(0.0)
            continue
        i = int(np.searchsorted(running, rank - 0.5, side="right"))
        out.append(float(_MAPPING.value(key + min(i, len(running) - 1))))
    return out
