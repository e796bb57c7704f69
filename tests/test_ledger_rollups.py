"""Rollups and retention: bills and metrics from rollups equal the exact sums over the
raw rows, and stay the same after the raw rows are compacted away (fake clock)."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.config import Settings, load_settings
from constellation.errors import ConfigError
from constellation.serverless import InvocationResult
from constellation.serverless import _ledger as ledger_module
from constellation.serverless._ledger import Ledger, billed_ms
from constellation.serverless._rollups import Batch
from constellation.store import Store

T0 = 1_800_000_000.0  # a minute boundary
STATUSES = ("success",) * 12 + ("error", "timeout", "throttled", "memory_limit", "crashed")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _results(seed: int, count: int, span_s: float) -> list[InvocationResult]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        status = rng.choice(STATUSES)
        cold = status != "throttled" and rng.random() < 0.1
        result = InvocationResult(
            f"r-{seed}-{i}",
            rng.choice(("fn-a", "fn-b")),
            "f",
            status,
            None,
            None if status == "success" else "x",
            None,
            0.0 if status == "throttled" else rng.lognormvariate(1, 1.5),
            0,
            rng.uniform(20, 300),
            rng.choice((128, 512, 1024)),
            cold,
            rng.uniform(5, 200) if cold else 0.0,
            T0 + rng.uniform(0, span_s),
            "i-1",
            "log line" if i % 7 == 0 else "",
        )
        result.billed_duration_ms = billed_ms(result)
        out.append(result)
    return sorted(out, key=lambda r: r.started_at)  # appended about in start order


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 3 * 3600)


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    store = Store(tmp_path / "db.sqlite")
    # the ledger thread never wakes (no interval, no full batch): the test compacts by hand
    settings = Settings(
        home=tmp_path,
        ledger_flush_interval_s=3600.0,
        ledger_batch_size=1_000_000,
        ledger_retention_s=3600,
    )
    ledger = Ledger(store, settings, clock)
    yield ledger
    ledger.close()
    store.close()


def _exact_bill(
    ledger: Ledger, function_id: str, start: float, end: float
) -> tuple[int, int, float]:
    """The old way: a scan of the raw rows."""
    row = ledger._store.query_one(
        "SELECT COUNT(*), COALESCE(SUM(billed_ms), 0), COALESCE(SUM(billed_ms * memory_mb), 0) "
        "FROM ledger WHERE function_id = ? AND status != 'throttled' "
        "AND started_at >= ? AND started_at <= ?",
        (function_id, start, end),
    )
    assert row is not None
    return row[0], row[1], row[2] / 1024.0 / 1000.0


def _bill(ledger: Ledger, function_id: str, start: float, end: float) -> tuple[int, int, float]:
    b = ledger.billing(function_id, "f", start, end)
    return b.invocation_count, b.compute_time_ms, b.memory_gb_seconds


NOW = T0 + 3 * 3600
RANGES = [  # (start, end): whole minutes, or ends inside the retention window (the last hour)
    (0.0, math.inf),
    (T0, NOW),
    (NOW - 86400, NOW),  # get_billing's default
    (T0 + 120, T0 + 3600),
    (NOW - 1800.5, NOW - 3.25),
    (NOW - 59.9, NOW - 0.1),  # inside one minute
    (T0 + 3 * 60, T0 + 3 * 60),  # empty, aligned
]


def test_bills_and_metrics_are_the_same_after_compaction(ledger: Ledger, clock: Clock) -> None:
    results = _results(seed=1, count=3000, span_s=3 * 3600 - 1)
    for result in results:
        ledger.append(result)
    ledger.flush()
    for start, end in [*RANGES, (T0 + 30.5, T0 + 150.25)]:
        for fid in ("fn-a", "fn-b"):
            got, exact = _bill(ledger, fid, start, end), _exact_bill(ledger, fid, start, end)
            assert got[:2] == exact[:2] and math.isclose(got[2], exact[2]), (start, end)
    old_range = _exact_bill(ledger, "fn-a", T0 + 60, T0 + 180 - 1e-6)
    bills = {(fid, r): _bill(ledger, fid, *r) for fid in ("fn-a", "fn-b") for r in RANGES}
    totals = {k: (t.agg.values(), t.invoke, t.mem) for k, t in ledger.totals().items()}
    window = ledger.window("fn-a", T0, T0 + 3600).values()
    old = ledger._store.query_one("SELECT request_id FROM ledger WHERE started_at < ?", (T0 + 60,))
    assert old is not None and ledger.find(old[0]) is not None

    deleted = ledger.compact()  # retention: one hour before NOW
    assert ledger.kept_from() == NOW - 3600
    remaining = ledger._store.query_one("SELECT COUNT(*), MIN(started_at) FROM ledger")
    kept = [r for r in results if r.started_at >= NOW - 3600]
    assert remaining[0] == len(kept) and remaining[1] == min(r.started_at for r in kept)
    assert deleted == 3000 - len(kept) + sum(1 for r in results if r.logs and r not in kept)

    assert {(fid, r): _bill(ledger, fid, *r) for fid in ("fn-a", "fn-b") for r in RANGES} == bills
    assert {k: (t.agg.values(), t.invoke, t.mem) for k, t in ledger.totals().items()} == totals
    assert ledger.window("fn-a", T0, T0 + 3600).values() == window
    # out of retention, a range's partial end minutes resolve to whole minutes: a minute
    # counts when it begins inside the range (here minutes 1 and 2, i.e. [60, 180) s)
    assert _bill(ledger, "fn-a", T0 + 30.5, T0 + 150.25) == old_range
    assert ledger.find(old[0]) is None  # out of retention: not found


def test_a_pass_cut_short_changes_no_answer(
    ledger: Ledger, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _results(seed=2, count=400, span_s=3 * 3600 - 1)
    for result in results:
        ledger.append(result)
    ledger.flush()
    bills = [_bill(ledger, "fn-b", *r) for r in RANGES]
    logged = [r for r in results if r.logs and r.function_id == "fn-a"]
    old_log = min(logged, key=lambda r: r.started_at)
    assert old_log.request_id in {e["request_id"] for e in ledger.logs("fn-a", 1000)}
    monkeypatch.setattr(ledger_module, "_COMPACT_BATCH", 10)
    monkeypatch.setattr(ledger_module, "_COMPACT_BATCHES", 2)
    assert ledger.compact() == 20 + 20  # a bounded pass: 2 x 10 rows, and 2 x 10 logs
    # the rows not yet deleted are already out of retention: not found, not billed twice
    assert ledger.find(old_log.request_id) is None
    assert old_log.request_id not in {e["request_id"] for e in ledger.logs("fn-a", 1000)}
    assert [_bill(ledger, "fn-b", *r) for r in RANGES] == bills
    while ledger.compact():
        pass
    assert [_bill(ledger, "fn-b", *r) for r in RANGES] == bills
    kept = [r for r in results if r.started_at >= NOW - 3600]
    assert ledger._store.query_one("SELECT COUNT(*) FROM ledger")[0] == len(kept)
    clock.now += 3600  # an hour on, the rest goes; the bills over whole minutes stay
    while ledger.compact():
        pass
    assert ledger._store.query_one("SELECT COUNT(*) FROM ledger")[0] == 0
    aligned = [
        i for i, (a, b) in enumerate(RANGES) if a % 60 == 0 and (b % 60 == 0 or b == math.inf)
    ]
    assert len(aligned) == 5
    assert [_bill(ledger, "fn-b", *RANGES[i]) for i in aligned] == [bills[i] for i in aligned]


def test_a_row_appended_long_after_it_started_goes_a_pass_later(
    ledger: Ledger, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction looks at the oldest rows by rowid only; a row that finished long after
    it started sits behind newer ones. It is out of retention at once, deleted later."""
    monkeypatch.setattr(ledger_module, "_COMPACT_BATCH", 5)
    results = _results(seed=5, count=50, span_s=3 * 3600 - 1)
    straggler = results[0]
    for result in [*results[1:], straggler]:
        ledger.append(result)
    ledger.flush()
    bills = [_bill(ledger, "fn-a", *r) for r in RANGES]
    while ledger.compact():
        pass
    assert ledger.find(straggler.request_id) is None
    assert [_bill(ledger, "fn-a", *r) for r in RANGES] == bills
    left = {r[0] for r in ledger._store.query("SELECT request_id FROM ledger")}
    assert straggler.request_id in left  # behind rows still in retention
    clock.now += 3600
    while ledger.compact():
        pass
    assert ledger._store.query_one("SELECT COUNT(*) FROM ledger")[0] == 0


def test_percentiles_come_from_the_merged_minute_sketches(ledger: Ledger) -> None:
    results = _results(seed=3, count=2000, span_s=3 * 3600 - 1)
    for result in results:
        ledger.append(result)
    ledger.flush()
    ran = sorted(
        r.duration_ms for r in results if r.function_id == "fn-a" and r.status != "throttled"
    )
    window = ledger.window("fn-a", T0, NOW)
    assert window.n == len(ran) and math.isclose(window.duration_ms, sum(ran))
    for q in (0.5, 0.95, 0.99):
        exact = ran[math.ceil(q * len(ran)) - 1]
        assert abs(window.sketch.quantile(q) - exact) <= 0.01 * exact


def test_retention_is_a_validated_setting() -> None:
    assert Settings().ledger_retention_s == 7 * 86400
    env = {"CONSTELLATION_LEDGER_RETENTION_S": "3600", "CONSTELLATION_HOME": "/tmp/x"}
    assert load_settings(env=env).ledger_retention_s == 3600
    with pytest.raises(ConfigError, match="ledger_retention_s"):
        Settings(ledger_retention_s=30)


def test_the_ledger_thread_compacts_on_its_own(tmp_path: Path) -> None:
    clock = Clock(NOW)
    store = Store(tmp_path / "db.sqlite")
    settings = Settings(home=tmp_path, ledger_flush_interval_s=0.01, ledger_retention_s=3600)
    ledger = Ledger(store, settings, clock)
    try:
        results = _results(seed=6, count=200, span_s=3 * 3600 - 1)
        for result in results:
            ledger.append(result)
        while ledger.kept_from() != NOW - 3600:  # the thread's first pass (no time limit)
            threading.Event().wait(0.01)
        while store.query_one("SELECT COUNT(*) FROM ledger WHERE started_at < ?", (NOW - 3600,))[0]:
            ledger._wake.set()
            threading.Event().wait(0.01)
        ledger.flush()  # the last rows may still be on their way (seen once under load)
        kept = sum(1 for r in results if r.started_at >= NOW - 3600)
        assert store.query_one("SELECT COUNT(*) FROM ledger")[0] == kept
    finally:
        ledger.close()
        store.close()


def test_a_ledger_from_before_rollups_is_rolled_up_once(tmp_path: Path, clock: Clock) -> None:
    """Raw rows written by the old code (no rollups) are rolled up when the ledger opens,
    so compaction cannot take them out of the bills."""
    results = _results(seed=7, count=500, span_s=3 * 3600 - 1)
    store = Store(tmp_path / "db.sqlite")
    with store.transaction() as conn:  # what the old flush wrote: raw rows only
        ledger_module._insert_rows(conn, [_row(r) for r in results])
    settings = Settings(
        home=tmp_path,
        ledger_flush_interval_s=3600.0,
        ledger_batch_size=1_000_000,
        ledger_retention_s=3600,
    )
    ledger = Ledger(store, settings, clock)
    try:
        exact = [_exact_bill(ledger, "fn-a", *r) for r in RANGES]
        assert [_bill(ledger, "fn-a", *r)[:2] for r in RANGES] == [e[:2] for e in exact]
        ran = [r for r in results if r.function_id == "fn-a" and r.status != "throttled"]
        assert ledger.window("fn-a", T0, NOW).n == len(ran)
        ledger.close()
        ledger = Ledger(store, settings, clock)  # opened again: not rolled up twice
        assert ledger.window("fn-a", T0, NOW).n == len(ran)
        while ledger.compact():
            pass
        assert [_bill(ledger, "fn-a", *r)[:2] for r in RANGES] == [e[:2] for e in exact]
    finally:
        ledger.close()
        store.close()


def _row(r: InvocationResult) -> tuple[object, ...]:
    return (
        r.request_id, r.function_id, r.function_name, r.started_at, r.duration_ms,
        r.billed_duration_ms, r.init_duration_ms, r.memory_limit_mb, r.memory_used_mb,
        r.status, int(r.cold_start), r.instance_id, r.error,
    )  # fmt: skip


@pytest.mark.parametrize("status", ["success", "throttled"])
def test_a_flush_of_one_key_rolls_up_as_it_would_among_others(status: str) -> None:
    """The usual flush (one function, status and minute) takes a shorter path: its key's
    sums, sketch and histogram counts are what the same rows give in a mixed flush, and
    the sums are exact."""
    rng = random.Random(7)
    rows = [
        (f"r{i}", "fn-a", "f", T0 + i * 0.01, rng.lognormvariate(1, 1.5), rng.randint(1, 50),
         rng.uniform(5, 200) if i % 5 == 0 else 0.0, 256, rng.uniform(20, 300), status,
         int(i % 5 == 0), "i-1", None)
        for i in range(500)
    ]  # fmt: skip
    other = [
        (f"o{i}", "fn-b", "g", T0 + i, 1.0, 1, 0.0, 128, 30.0, "success", 0, "i-2", None)
        for i in range(3)
    ]
    alone, mixed = Batch(rows), Batch(rows + other)
    key = ("fn-a", int(T0 // 60), status)
    assert list(alone.minutes) == [key]
    a, m = alone.minutes[key], mixed.minutes[key]
    assert (a.n, a.billed_ms, a.mb_ms, a.cold) == (m.n, m.billed_ms, m.mb_ms, m.cold)
    assert (a.n, a.billed_ms, a.cold) == (500, sum(r[5] for r in rows), 100)
    assert a.mb_ms == 256 * a.billed_ms
    assert a.duration_ms == pytest.approx(m.duration_ms)
    assert a.init_ms == pytest.approx(m.init_ms) == pytest.approx(sum(r[6] for r in rows))
    assert alone._blobs[key] == mixed._blobs[key]
    ta, tm = alone.totals[("fn-a", status)], mixed.totals[("fn-a", status)]
    assert (ta.function_name, ta.invoke, ta.init, ta.mem) == (
        tm.function_name,
        tm.invoke,
        tm.init,
        tm.mem,
    )
    assert ta.mem_mb == pytest.approx(tm.mem_mb)
    assert sum(ta.init) == 100
    assert sum(ta.invoke) == (0 if status == "throttled" else 500)
