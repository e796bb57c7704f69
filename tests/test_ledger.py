"""The ledger's batching: a record is findable as soon as its invocation has returned."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from constellation.config import Settings
from constellation.serverless import InvocationResult
from constellation.serverless._ledger import Ledger
from constellation.store import Store


def _result(request_id: str) -> InvocationResult:
    return InvocationResult(
        request_id, "fn-1", "f", "success", None, None, None, 1.0, 1, 10.0, 128, False, 0.0, 1e9
    )


def test_find_waits_for_a_flush_already_under_way(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    ledger = Ledger(store, Settings(home=tmp_path, ledger_flush_interval_s=3600.0))
    try:
        ledger.append(_result("r-1"))
        real = store.transaction
        taken = threading.Event()

        @contextmanager
        def slow_transaction() -> Iterator[Any]:
            taken.set()  # the rows are out of the pending list, not yet committed
            time.sleep(0.3)
            with real() as conn:
                yield conn

        store.transaction = slow_transaction  # type: ignore[method-assign]
        flusher = threading.Thread(target=ledger.flush)
        flusher.start()
        assert taken.wait(5)
        store.transaction = real  # type: ignore[method-assign]
        found = ledger.find("r-1")  # before the fix: None, the other flush not committed
        flusher.join()
        assert found is not None and found["request_id"] == "r-1"
    finally:
        ledger.close()
        store.close()


@pytest.mark.parametrize("others", [0, 62, 63, 200])
def test_a_batch_stores_each_value_with_its_type(tmp_path: Path, others: int) -> None:
    """Multi-row statements (64 rows, then the rest) store every row, each value typed."""
    store = Store(tmp_path / "db.sqlite")
    ledger = Ledger(store, Settings(home=tmp_path, ledger_flush_interval_s=3600.0))
    try:
        ok = _result("r-1")
        failed = InvocationResult(
            "r-2",
            "fn-1",
            "f",
            "error",
            None,
            "boom: naïve “quotes” \u2603",
            "ValueError",
            2.5,
            3,
            12.75,
            256,
            True,
            40.125,
            1e9 + 0.5,
            "fi-1",
        )
        ledger.append(ok)
        for n in range(others):
            ledger.append(_result(f"x-{n:04d}"))
        ledger.append(failed)
        assert ledger.flush() == others + 2
        assert store.query_one("SELECT COUNT(DISTINCT request_id) FROM ledger")[0] == others + 2
        rows = store.query(
            "SELECT request_id, started_at, typeof(started_at) AS t_started, duration_ms,"
            " billed_ms, typeof(billed_ms) AS t_billed, memory_mb, cold_start, init_ms,"
            " status, instance_id, error, typeof(error) AS t_error FROM ledger"
            " WHERE request_id LIKE 'r-%' ORDER BY request_id"
        )
        assert [tuple(r) for r in rows] == [
            ("r-1", 1e9, "real", 1.0, 1, "integer", 128, 0, 0.0, "success", None, None, "null"),
            (
                "r-2",
                1e9 + 0.5,
                "real",
                2.5,
                3,
                "integer",
                256,
                1,
                40.125,
                "error",
                "fi-1",
                "boom: naïve “quotes” \u2603",
                "text",
            ),
        ]
    finally:
        ledger.close()
        store.close()
