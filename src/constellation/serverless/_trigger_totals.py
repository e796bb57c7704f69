"""All-time invocation totals per function, trigger and status: the faas_* series' source.

OpenTelemetry's FaaS metrics carry ``faas.trigger`` (``http``, ``pubsub``, ``timer``,
``other``). The ledger's own totals (``ledger_totals``) are per function and status;
these split them by trigger, with the same sums and histogram bucket counts, in the table
``ledger_trigger_totals`` (schema version 4), written in the ledger flush's transaction.
The ledger learns a record's trigger from the invoker beside the record (the raw ledger
rows do not keep it), so only the totals have it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..telemetry import faas_trigger
from ._rollups import Aggregate, Batch, Total, pack_counts, unpack_counts

__all__ = ["TriggerKey", "read_trigger_totals", "trigger_totals", "write_trigger_totals"]

TriggerKey = tuple[str, str, str]  # (function id, faas.trigger, status)

_UPSERT = (
    "INSERT INTO ledger_trigger_totals (function_id, faas_trigger, status, function_name, n, "
    "duration_ms, cold, init_ms, invoke_buckets, init_buckets, mem_buckets, mem_mb) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (function_id, faas_trigger, status) "
    "DO UPDATE SET function_name = excluded.function_name, n = n + excluded.n, "
    "duration_ms = duration_ms + excluded.duration_ms, cold = cold + excluded.cold, "
    "init_ms = init_ms + excluded.init_ms, "
    "invoke_buckets = counts_merge(invoke_buckets, excluded.invoke_buckets), "
    "init_buckets = counts_merge(init_buckets, excluded.init_buckets), "
    "mem_buckets = counts_merge(mem_buckets, excluded.mem_buckets), "
    "mem_mb = mem_mb + excluded.mem_mb"
)


def trigger_totals(
    rows: Sequence[Sequence[Any]], triggers: Sequence[str | None], whole: Batch
) -> dict[TriggerKey, Total]:
    """The totals of a flush's rows per trigger. ``whole`` is the flush's batch: when
    every row has one trigger (the usual case) its totals are reused as they are."""
    kind_of = {t: faas_trigger(t) for t in set(triggers)}  # a few distinct values
    if len(set(kind_of.values())) == 1:
        kind = next(iter(kind_of.values()))
        return {(fid, kind, status): t for (fid, status), t in whole.totals.items()}
    groups: dict[str, list[Sequence[Any]]] = {}
    for row, trigger in zip(rows, triggers, strict=True):
        groups.setdefault(kind_of[trigger], []).append(row)
    out: dict[TriggerKey, Total] = {}
    for kind, group in groups.items():
        for (fid, status), total in Batch(group).totals.items():
            out[(fid, kind, status)] = total
    return out


def write_trigger_totals(conn: sqlite3.Connection, totals: Mapping[TriggerKey, Total]) -> None:
    """Add to the stored totals (inside the flush's transaction, after Batch.write
    registered ``counts_merge``)."""
    conn.executemany(
        _UPSERT,
        [
            (
                fid,
                kind,
                status,
                t.function_name,
                t.agg.n,
                t.agg.duration_ms,
                t.agg.cold,
                t.agg.init_ms,
                pack_counts(t.invoke),
                pack_counts(t.init),
                pack_counts(t.mem),
                t.mem_mb,
            )
            for (fid, kind, status), t in totals.items()
        ],
    )


def read_trigger_totals(fetch: Callable[..., list[Any]]) -> dict[TriggerKey, Total]:
    rows = fetch(
        "SELECT function_id, faas_trigger, status, function_name, n, duration_ms, cold, "
        "init_ms, invoke_buckets, init_buckets, mem_buckets, mem_mb FROM ledger_trigger_totals"
    )
    out: dict[TriggerKey, Total] = {}
    for r in rows:
        agg = Aggregate(n=r[4], duration_ms=r[5], cold=r[6], init_ms=r[7])
        out[(r[0], r[1], r[2])] = Total(
            r[3], agg, unpack_counts(r[8]), unpack_counts(r[9]), unpack_counts(r[10]), r[11]
        )
    return out
