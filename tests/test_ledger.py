"""The ledger's batching: a record is findable as soon as its invocation has returned."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
