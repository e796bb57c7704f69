"""The dashboard's series from the ledger's rollups: per-minute columns equal the exact
figures over the raw rows; quantiles read from a sketch's buckets equal the Sketch's."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from constellation.config import Settings
from constellation.serverless._ledger import Ledger
from constellation.serverless._series import function_series, minute_counts, quantiles
from constellation.serverless._sketch import Sketch, encode_values, merge_blobs
from constellation.store import Store

from ..test_ledger_rollups import T0, Clock, _results


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "db.sqlite")
    settings = Settings(home=tmp_path, ledger_flush_interval_s=3600.0, ledger_batch_size=10**6)
    ledger = Ledger(store, settings, Clock(T0 + 3600))
    results = _results(3, 400, 600.0)  # ten minutes of two functions
    for r in results:
        ledger.append(r)
    ledger.flush()
    store.results = results  # type: ignore[attr-defined]
    yield store
    ledger.close()
    store.close()


def test_function_series_matches_the_raw_rows(store: Store) -> None:
    results = store.results  # type: ignore[attr-defined]
    first = int(T0 // 60)
    cols = function_series(store, "fn-a", first, first + 10)
    assert cols["minute"] == sorted(cols["minute"])
    for i, minute in enumerate(cols["minute"]):
        rows = [r for r in results if r.function_id == "fn-a" and int(r.started_at // 60) == minute]
        ran = [r for r in rows if r.status != "throttled"]
        assert cols["invocations"][i] == len(ran)
        assert cols["throttled"][i] == len(rows) - len(ran)
        assert cols["errors"][i] == sum(r.status != "success" for r in ran)
        assert cols["cold_starts"][i] == sum(r.cold_start for r in ran)
        exact = sorted(r.duration_ms for r in ran)
        if exact:
            p99 = exact[max(1, math.ceil(0.99 * len(exact))) - 1]
            assert cols["p99_ms"][i] == pytest.approx(p99, rel=0.011, abs=1e-3)
    # a range with nothing in it
    assert function_series(store, "fn-a", first - 100, first - 90)["minute"] == []


def test_minute_counts_cover_every_function_in_the_range(store: Store) -> None:
    for fid in ("fn-a", "fn-b"):
        store.execute(  # minute_counts joins the functions table: two bare rows
            "INSERT INTO functions (id, name, runtime, handler, source, code_hash, entry, "
            "memory_mb, timeout_s, concurrency, env, scaling_policy, cold_start_optimization, "
            "prewarm_instances, version, status, created_at, updated_at) VALUES "
            "(?, ?, 'python', 'h', '', '', '', 128, 30, 1, '{}', '{}', 0, 0, 1, 'ready', 0, 0)",
            (fid, fid),
        )
    first = int(T0 // 60)
    counts = minute_counts(store, first + 2, first + 5)
    for fid in ("fn-a", "fn-b"):
        cols = counts[fid]
        assert set(cols["minute"]) <= {first + 2, first + 3, first + 4}
        full = function_series(store, fid, first + 2, first + 5)
        assert cols["invocations"] == full["invocations"]
        assert cols["errors"] == full["errors"]


@given(
    st.lists(st.one_of(st.just(0.0), st.floats(0.001, 1e6)), min_size=1, max_size=200),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
)
def test_quantiles_from_buckets_equal_the_sketchs(values: list[float], qs: list[float]) -> None:
    blob = encode_values(values)
    sketch = Sketch.decode(blob)
    assert quantiles(blob, qs) == [sketch.quantile(q) for q in qs]


def test_quantiles_of_merged_and_empty_sketches() -> None:
    rng = random.Random(5)
    blob = merge_blobs(encode_values([rng.random() for _ in range(50)]), encode_values([7.0]))
    assert quantiles(blob, [1.0]) == [Sketch.decode(blob).quantile(1.0)]
    assert quantiles(None, [0.5, 0.99]) == [0.0, 0.0]
