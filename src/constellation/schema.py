"""The SQLite schema of the whole platform, and its ordered migrations.

One module owns every table (version 1's DDL, frozen with release 0.1.0, is kept apart
in ``_schema_v1``). A store's schema version is SQLite's ``PRAGMA user_version``;
:func:`migrate` applies each migration above it, in order, each in its own write-locked
transaction together with the version bump, so a crash mid-way leaves the store at the
last whole version and two processes opening one file migrate it once.

To change the schema, append a :class:`Migration` with the next version: never edit one
that shipped (stores in the field already ran it). ``tests/test_schema.py`` opens a store
written by release 0.1.0 (``tests/fixtures/store/``) and upgrades it without losing a row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._schema_v1 import V1
from .errors import ConstellationError

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Migration", "SchemaError", "migrate", "schema_version"]


class SchemaError(ConstellationError):
    """The store's schema is newer than this release knows, or a migration failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _run(conn: sqlite3.Connection, ddl: str) -> None:
    # executescript() would COMMIT the migration's transaction: run statement by statement.
    for statement in ddl.split(";"):
        if statement.strip():
            conn.execute(statement)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


# -- version 1: the tables of release 0.1.0 (their DDL, frozen, in _schema_v1) ----------
def _v1_release_0_1(conn: sqlite3.Connection) -> None:
    _run(conn, V1)
    present = _columns(conn, "functions")
    if "resources" not in present:
        conn.execute("ALTER TABLE functions ADD COLUMN resources TEXT NOT NULL DEFAULT '{}'")
    if "gpu" not in present:
        conn.execute("ALTER TABLE functions ADD COLUMN gpu TEXT")


# -- version 2: an anomaly's score may be unknown ------------------------------------------
# A recorded anomaly without an expected value has no score (NaN), which SQLite stores as
# NULL: under `score REAL NOT NULL` recording one failed. SQLite cannot drop NOT NULL in
# place, so the table is rebuilt with its rows and indexes.
def _v2_nullable_anomaly_score(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        """
        CREATE TABLE anomaly_events_v2 (
            id             TEXT PRIMARY KEY,
            metric_name    TEXT NOT NULL,
            type           TEXT NOT NULL,
            detected_value REAL NOT NULL,
            expected_value REAL,
            expected_low   REAL,
            expected_high  REAL,
            confidence     REAL NOT NULL,
            severity       TEXT NOT NULL,
            recommendation TEXT NOT NULL,
            instance_id    TEXT,
            detected_at    REAL NOT NULL,
            last_seen_at   REAL NOT NULL,
            resolved_at    REAL,
            score          REAL,
            points         INTEGER NOT NULL,
            detector_id    TEXT,
            method         TEXT,
            details        TEXT NOT NULL DEFAULT '{}'
        );
        INSERT INTO anomaly_events_v2 SELECT * FROM anomaly_events;
        DROP TABLE anomaly_events;
        ALTER TABLE anomaly_events_v2 RENAME TO anomaly_events;
        CREATE INDEX anomaly_events_open ON anomaly_events (resolved_at);
        CREATE INDEX anomaly_events_metric ON anomaly_events (metric_name, detected_at)
        """,
    )


# -- version 3: the ledger's rollups ---------------------------------------------------------
# Per function and minute (and all time): counts, duration and billing sums and a duration
# sketch, written with the raw rows, so metrics and bills never scan the raw ledger and
# survive its retention. A store with raw rows from before is rolled up by the ledger when
# it opens (serverless._ledger: that needs the sketch code, which this module cannot import).
_V3 = """
CREATE TABLE ledger_rollup (
    function_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    billed_ms INTEGER NOT NULL,
    mb_ms INTEGER NOT NULL,
    cold INTEGER NOT NULL,
    init_ms REAL NOT NULL,
    sketch BLOB,
    PRIMARY KEY (function_id, minute, status)
) WITHOUT ROWID;
CREATE TABLE ledger_totals (
    function_id TEXT NOT NULL,
    status TEXT NOT NULL,
    function_name TEXT NOT NULL,
    n INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    billed_ms INTEGER NOT NULL,
    mb_ms INTEGER NOT NULL,
    cold INTEGER NOT NULL,
    init_ms REAL NOT NULL,
    sketch BLOB,
    invoke_buckets BLOB NOT NULL,
    init_buckets BLOB NOT NULL,
    mem_buckets BLOB NOT NULL,
    mem_mb REAL NOT NULL,
    PRIMARY KEY (function_id, status)
) WITHOUT ROWID;
CREATE TABLE ledger_compaction (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    kept_from REAL NOT NULL
)
"""


def _v3_ledger_rollups(conn: sqlite3.Connection) -> None:
    _run(conn, _V3)


# Predictors: their bounded samples, fitted model and accuracy history (one pickled
# state per predictor; the store is the platform's own file), so that a restarted
# platform forecasts at once.
_V4 = """
CREATE TABLE predictive_models (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    samples INTEGER NOT NULL,
    trained_at REAL,
    state BLOB NOT NULL,
    saved_at REAL NOT NULL
) WITHOUT ROWID
"""


def _v4_predictive_models(conn: sqlite3.Connection) -> None:
    _run(conn, _V4)


# -- version 5: anomalies name their service; detectors' learnt state survives a restart ----
# `anomaly_detectors` holds one bounded snapshot per (metric, method): the detector's
# state, serialised by constellation.anomaly._state (at most a few hundred KiB each).
_V5 = """
ALTER TABLE anomaly_events ADD COLUMN service_name TEXT;
CREATE TABLE anomaly_detectors (
    metric TEXT NOT NULL,
    method TEXT NOT NULL,
    sensitivity REAL NOT NULL,
    options TEXT NOT NULL,
    service_name TEXT,
    points INTEGER NOT NULL,
    state BLOB NOT NULL,
    saved_at REAL NOT NULL,
    PRIMARY KEY (metric, method)
) WITHOUT ROWID
"""


def _v5_anomaly_services_and_detector_state(conn: sqlite3.Connection) -> None:
    _run(conn, _V5)


# -- version 6: the all-time totals per trigger --------------------------------------------
# The faas_* metric series carry OpenTelemetry's faas.trigger (http, pubsub, timer, other):
# ledger_totals per (function, status) split by it, with the same sums and bucket counts.
# What was recorded before has no trigger: it is carried over as 'other'.
_V6 = """
CREATE TABLE ledger_trigger_totals (
    function_id TEXT NOT NULL,
    faas_trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    function_name TEXT NOT NULL,
    n INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    cold INTEGER NOT NULL,
    init_ms REAL NOT NULL,
    invoke_buckets BLOB NOT NULL,
    init_buckets BLOB NOT NULL,
    mem_buckets BLOB NOT NULL,
    mem_mb REAL NOT NULL,
    PRIMARY KEY (function_id, faas_trigger, status)
) WITHOUT ROWID;
INSERT INTO ledger_trigger_totals
    SELECT function_id, 'other', status, function_name, n, duration_ms, cold, init_ms,
           invoke_buckets, init_buckets, mem_buckets, mem_mb
    FROM ledger_totals
"""


def _v6_trigger_totals(conn: sqlite3.Connection) -> None:
    _run(conn, _V6)


def _v7_network(conn: sqlite3.Connection) -> None:
    if "network" not in _columns(conn, "functions"):
        conn.execute("ALTER TABLE functions ADD COLUMN network INTEGER NOT NULL DEFAULT 1")


# -- version 8: clusters' GPU scheduling policy -----------------------------------------------
# The placement (binpack or spread) a cluster's GPU requests use when they name none; the GPU
# capability owns it (a cluster's own record stays the deployments package's).
_V8 = """
CREATE TABLE gpu_cluster_policies (
    cluster TEXT PRIMARY KEY,
    scheduling_policy TEXT NOT NULL
) WITHOUT ROWID
"""


def _v8_gpu_cluster_policies(conn: sqlite3.Connection) -> None:
    _run(conn, _V8)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables of release 0.1.0", _v1_release_0_1),
    Migration(
        2, "anomaly_events.score may be NULL (no expected value)", _v2_nullable_anomaly_score
    ),
    Migration(3, "the ledger's per-minute and all-time rollups", _v3_ledger_rollups),
    Migration(4, "predictors' samples, models and accuracy history", _v4_predictive_models),
    Migration(
        5,
        "anomaly_events.service_name; anomaly_detectors (detectors' learnt state)",
        _v5_anomaly_services_and_detector_state,
    ),
    Migration(6, "the ledger's all-time totals per trigger", _v6_trigger_totals),
    Migration(7, "functions.network: whether a function's sandbox has a network", _v7_network),
    Migration(8, "clusters' GPU scheduling policy", _v8_gpu_cluster_policies),
)
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the store on ``conn`` (autocommit mode) up to the last of ``migrations``;
    returns the version it is at. A store newer than this release is refused."""
    latest = migrations[-1].version if migrations else 0
    found = schema_version(conn)
    if found > latest:
        raise SchemaError(
            f"the store's schema is version {found}, newer than this release's {latest}: "
            "open it with the release that wrote it"
        )
    for migration in migrations:
        if migration.version <= found:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            if schema_version(conn) >= migration.version:
                conn.execute("ROLLBACK")
                continue
            migration.apply(conn)
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise SchemaError(
                    f"migration {migration.version} ({migration.description}) failed: {exc}"
                ) from exc
            raise
        conn.execute("COMMIT")
        found = migration.version
    return schema_version(conn)
