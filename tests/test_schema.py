"""The store's schema: one module, a version in PRAGMA user_version, ordered migrations."""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path

import pytest

from constellation.platform import Constellation
from constellation.schema import LATEST_VERSION, MIGRATIONS, Migration, SchemaError, migrate
from constellation.store import Store

RELEASE_0_1 = Path(__file__).resolve().parent / "fixtures" / "store" / "release-0.1.0.db"
# The tables that migrations after release 0.1.0 added.
ADDED_SINCE_0_1 = {
    "ledger_rollup",
    "ledger_totals",
    "ledger_compaction",
    "predictive_models",
    "anomaly_detectors",
    "ledger_trigger_totals",
    "gpu_cluster_policies",
}


def _tables(path: Path) -> dict[str, int]:
    """Every table's row count."""
    with sqlite3.connect(path) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def _rows(path: Path, table: str) -> list[dict[str, object]]:
    """Every row, as {column: value}; columns a later migration added are left out."""
    with sqlite3.connect(path) as conn:
        cursor = conn.execute(f'SELECT * FROM "{table}"')
        names = [c[0] for c in cursor.description]
        return sorted((dict(zip(names, row, strict=True)) for row in cursor), key=repr)


def _same_rows(after: list[dict[str, object]], before: list[dict[str, object]]) -> bool:
    return [{k: row[k] for k in old} for row, old in zip(after, before, strict=True)] == before


def test_a_new_store_is_at_the_latest_version_with_every_table(tmp_path: Path) -> None:
    with Store(tmp_path / "new.db") as store:
        assert store.schema_version == LATEST_VERSION
    assert set(_tables(tmp_path / "new.db")) == set(_tables(RELEASE_0_1)) | ADDED_SINCE_0_1


def test_a_release_0_1_store_is_upgraded_without_losing_a_row(tmp_path: Path) -> None:
    db = tmp_path / "constellation.db"
    shutil.copy(RELEASE_0_1, db)
    before = _tables(db)
    assert all(count > 0 for count in before.values()), before  # the fixture fills every table
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    rows_before = {table: _rows(db, table) for table in before}
    with Store(db) as store:
        assert store.schema_version == LATEST_VERSION
    after = _tables(db)
    assert set(after) == set(before) | ADDED_SINCE_0_1
    assert {table: after[table] for table in before} == before
    assert all(_same_rows(_rows(db, table), rows_before[table]) for table in before)
    # functions.network (migration 7): every function keeps its network
    assert {r["network"] for r in _rows(db, "functions")} == {1}
    with Store(db) as store:  # opening again changes nothing
        assert store.schema_version == LATEST_VERSION
    assert _tables(db) == after


def test_the_upgraded_store_serves_the_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(RELEASE_0_1, home / "constellation.db")
    with sqlite3.connect(RELEASE_0_1) as conn:
        (ledgered,) = conn.execute(
            "SELECT count(*) FROM ledger WHERE function_name = 'process-order'"
        ).fetchone()
    with Constellation(home, background=False) as platform:
        names = sorted(f.name for f in platform.serverless.list_functions())
        assert names == ["chatty", "failing", "process-order"]
        order = platform.serverless.get_function("process-order")
        assert order.scaling_policy.enable_predictive_scaling and order.memory_mb == 256
        assert (
            platform.serverless.get_function_metrics("process-order").total_invocations == ledgered
        )
        assert len(platform.serverless.list_triggers("process-order")) == 4
        assert [d.name for d in platform.deployments.list_deployments()] == ["worker"]


def test_an_anomaly_without_an_expected_value_is_stored_after_the_upgrade(tmp_path: Path) -> None:
    # Release 0.1.0 refused it: a NaN score in a NOT NULL column (version 2 fixes that).
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(RELEASE_0_1, home / "constellation.db")
    with Constellation(home, background=False) as platform:
        recorded = platform.anomaly.record("disk_errors", 3.0)
        assert math.isnan(recorded.score)
    with Constellation(home, background=False) as platform:
        found = [a for a in platform.anomaly.get_active() if a.id == recorded.id]
        assert len(found) == 1 and math.isnan(found[0].score)


def test_a_store_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(SchemaError, match=f"version {LATEST_VERSION + 1}, newer than"):
        Store(db)
    assert _tables(db) == {}


def test_a_failing_migration_leaves_the_store_at_the_last_whole_version(tmp_path: Path) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    steps = (*MIGRATIONS, Migration(LATEST_VERSION + 1, "broken", broken))
    with pytest.raises(SchemaError, match=f"migration {LATEST_VERSION + 1} \\(broken\\) failed"):
        migrate(conn, steps)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables
    conn.close()


def test_migrations_are_numbered_in_order_from_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
