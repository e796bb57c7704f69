"""Persistence through the shared Store and feeding from Telemetry (the platform hooks)."""

from __future__ import annotations

import numpy as np

from constellation.anomaly import AnomalyRegistry, watch_telemetry
from constellation.errors import ValidationError
from constellation.store import Store
from constellation.telemetry import Telemetry


def test_anomalies_persist_and_reload_across_registries(tmp_path, clock) -> None:
    path = tmp_path / "state.db"
    with Store(path) as store:
        reg = AnomalyRegistry(store=store, clock=clock)
        d = reg.create_detector("p95_latency", "zscore", 3.0)
        for v in np.random.default_rng(1).normal(100, 3, 60):
            clock.advance(10)
            reg.detect(d, float(v))
        for v in (400.0, 420.0, 410.0):
            clock.advance(10)
            found = reg.detect(d, v, instance_id="i-3")
        closed = reg.record("disk_used", 97.0, 60.0, severity="critical", type="threshold")
        reg.resolve(closed.id)
        reg.shutdown()
        rows = store.query("SELECT id, points, detected_value FROM anomaly_events ORDER BY id")
        assert len(rows) == 2  # the continuing anomaly is one row, not three
        assert {r["id"] for r in rows} == {found.id, closed.id}
        assert next(r for r in rows if r["id"] == found.id)["points"] == 3
    with Store(path) as store:
        again = AnomalyRegistry(store=store, clock=clock)
        active = again.get_active()
        assert [a.id for a in active] == [found.id]
        assert active[0].detected_value == 420.0 and active[0].instance_id == "i-3"
        assert again.get(closed.id).resolved_at is not None
        assert [a.id for a in again.history()] == sorted(
            [found.id, closed.id], key=lambda i: i != closed.id
        )
        again.resolve(found.id)
        assert again.get_active() == []
        again.shutdown()


def test_telemetry_points_reach_detectors_and_auto_detectors(clock) -> None:
    telemetry = Telemetry()
    reg = AnomalyRegistry(clock=clock)
    named = reg.create_detector("queue_depth", "zscore", 5.0)
    stop = watch_telemetry(
        telemetry, reg, auto=[("function_duration_ms", "mad", 4.0)], instance_label="instance"
    )
    restarted = []
    reg.on_detect(lambda a: restarted.append(a.instance_id))
    rng = np.random.default_rng(2)
    t = 1000.0
    for _ in range(60):
        t += 1
        telemetry.record("queue_depth", float(rng.normal(10, 1)), t)
        for fn in ("resize", "thumb"):
            labels = {"function": fn, "instance": f"{fn}-1"}
            telemetry.record("function_duration_ms", float(rng.normal(30, 2)), t, labels)
    assert named.points == 60
    keys = sorted(d.metric for d in reg.detectors())
    assert keys == [
        'function_duration_ms{function="resize",instance="resize-1"}',
        'function_duration_ms{function="thumb",instance="thumb-1"}',
        "queue_depth",
    ]
    t += 1
    telemetry.record(
        "function_duration_ms", 900.0, t, {"function": "resize", "instance": "resize-1"}
    )
    assert restarted == ["resize-1"]
    # concurrent invocations finish out of order: a slightly late point still counts
    telemetry.record("queue_depth", 10.0, t - 0.5)
    assert named.points == 61
    # a bad point is dropped and logged, never raised into the producer
    telemetry.record("queue_depth", 10.0, 5.0)
    telemetry.record("queue_depth", float("nan"), t + 1)
    assert named.points == 61
    stop()
    telemetry.record("queue_depth", 11.0, t + 2)
    assert named.points == 61


def test_windows_feed_one_mean_point_per_series_and_window(clock) -> None:
    telemetry = Telemetry()
    reg = AnomalyRegistry(clock=clock)
    watcher = watch_telemetry(telemetry, reg, auto=[("latency", "zscore", 5.0)], window_s=1.0)
    labels = {"function": "f"}
    for t, value in ((100.0, 10.0), (100.4, 20.0), (100.2, 30.0), (100.9, 40.0)):
        telemetry.record("latency", value, t, labels)  # 100.2 arrives late: same window
    assert reg.detectors() == []  # the window is still open: nothing fed, nothing created
    telemetry.record("latency", 50.0, 101.0, labels)  # the next window closes the first
    [detector] = reg.detectors()
    assert detector.points == 1
    assert detector.last_timestamp == 100.9  # at the window's latest point
    assert watcher.close_windows(now=101.5) == 0  # the second window runs to 102.0
    assert watcher.close_windows(now=102.0) == 1
    assert detector.points == 2
    telemetry.record("latency", 60.0, 103.0, labels)
    assert watcher.close_windows() == 1  # None: every open window, ended or not
    assert detector.points == 3
    watcher()
    telemetry.record("latency", 70.0, 110.0, labels)
    assert watcher.close_windows() == 0  # unsubscribed: nothing arrives any more
    watcher()  # idempotent


def test_the_window_mean_is_what_the_detector_sees(clock) -> None:
    telemetry = Telemetry()
    reg = AnomalyRegistry(clock=clock)
    seen: list[float] = []
    d = reg.create_detector("latency", "threshold", 35.0)
    original = reg.detect
    reg.detect = lambda handle, value, *a, **k: (
        seen.append(value),
        original(handle, value, *a, **k),
    )[1]  # type: ignore[method-assign]
    watcher = watch_telemetry(telemetry, reg, window_s=2.0)
    for t, value in ((10.0, 10.0), (11.0, 20.0), (11.5, 90.0)):
        telemetry.record("latency", value, t)
    watcher.close_windows()
    assert seen == [40.0] and d.points == 1
    assert [a.detected_value for a in reg.get_active()] == [40.0]


def test_a_bad_window_is_refused() -> None:
    for bad in (0, -1.0, True, "1s"):
        try:
            watch_telemetry(Telemetry(), AnomalyRegistry(), window_s=bad)  # type: ignore[arg-type]
        except ValidationError as exc:
            assert exc.field == "window_s" and "expected > 0 seconds" in str(exc)
        else:
            raise AssertionError(f"window_s={bad!r} was accepted")
