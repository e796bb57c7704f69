"""The telemetry bus's delivery paths: taps, deferred per-point and per-batch subscribers,
and a series read by polling (``points_after``, the anomaly watcher's ``poll_s``)."""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import cast

import pytest

from constellation.anomaly import AnomalyRegistry, watch_telemetry
from constellation.errors import ValidationError
from constellation.telemetry import DeferredSubscribers, MetricPoint, MetricSeries, Telemetry


def test_a_tap_gets_every_point_in_order_until_untapped() -> None:
    telemetry = Telemetry()
    queue: deque[tuple[MetricSeries, MetricPoint]] = deque()
    untap = telemetry.tap(queue)
    a = telemetry.series("a")
    telemetry.publish(a, 1.0, 10.0)
    telemetry.record("b", 2.0, 11.0, {"k": "v"})
    assert [(s.key, p) for s, p in queue] == [("a", (10.0, 1.0)), ('b{k="v"}', (11.0, 2.0))]
    assert isinstance(queue[0][1], MetricPoint) and queue[0][1].value == 1.0
    untap()
    telemetry.publish(a, 3.0, 12.0)
    assert len(queue) == 2
    untap()  # idempotent


def test_deferred_subscribers_deliver_on_flush_per_point_and_per_batch() -> None:
    telemetry = Telemetry()
    deferred = DeferredSubscribers(telemetry, interval_s=3600.0)  # only flush() delivers
    try:
        singles: list[float] = []
        batches: list[list[float]] = []
        deferred.subscribe(lambda series, point: singles.append(point.value))
        stop = deferred.subscribe_batches(lambda b: batches.append([p.value for _, p in b]))
        s = telemetry.series("x")
        for i in range(5):
            telemetry.publish(s, float(i), 100.0 + i)
        assert singles == [] and batches == []  # nothing is delivered on the producer's thread
        assert deferred.flush() == 5
        assert singles == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert batches == [[0.0, 1.0, 2.0, 3.0, 4.0]]
        stop()
        telemetry.publish(s, 9.0, 200.0)
        assert deferred.flush() == 1
        assert singles[-1] == 9.0 and len(batches) == 1
        assert deferred.flush() == 0
    finally:
        deferred.close()
        deferred.close()  # idempotent
    telemetry.publish(telemetry.series("x"), 10.0, 300.0)  # closed: untapped
    assert singles[-1] == 9.0


def test_batched_and_per_point_windows_feed_the_detectors_alike() -> None:
    points = [(100.0, 10.0), (100.4, 20.0), (100.2, 30.0), (101.1, 40.0), (101.3, 5.0),
              (103.0, 7.0), (103.2, 9.0), (104.5, 1.0)]  # fmt: skip
    fed: dict[str, list[tuple[float, float]]] = {}
    for path in ("per-point", "batched", "polled"):
        telemetry = Telemetry()
        reg = AnomalyRegistry()
        original = reg.detect
        seen = fed[path] = []

        def spy(handle, value, timestamp, *a, _seen=seen, _original=original, **k):  # type: ignore[no-untyped-def]
            _seen.append((value, timestamp))
            return _original(handle, value, timestamp, *a, **k)

        reg.detect = spy  # type: ignore[method-assign]
        deferred = DeferredSubscribers(telemetry, interval_s=3600.0) if path == "batched" else None
        source = cast(Telemetry, deferred) if deferred is not None else telemetry
        poll_s = 3600.0 if path == "polled" else None  # only poll() reads
        watcher = watch_telemetry(
            source, reg, auto=[("latency", "zscore", 5.0)], window_s=1.0, poll_s=poll_s
        )
        for t, value in points:
            telemetry.record("latency", value, t, {"function": "f"})
        if deferred is not None:
            deferred.flush()
        if poll_s is not None:
            assert watcher.poll() == len(points)
        watcher.close_windows()
        watcher.close()
        if deferred is not None:
            deferred.close()
    assert fed["batched"] == fed["per-point"] == fed["polled"]
    assert [v for v, _ in fed["per-point"]] == [20.0, 22.5, 8.0, 1.0]  # window means


def test_points_after_returns_what_came_after_a_point_by_identity() -> None:
    series = MetricSeries("x", maxlen=100)
    assert series.points_after(None) == []
    first = series.append(1.0, 10.0)
    same = series.append(1.0, 10.0)  # equal, not the same point
    assert series.points_after(None) == [first, same]
    assert series.points_after(first) == [same] and series.points_after(first)[0] is same
    assert series.points_after(same) == []
    later = [series.append(float(i), 11.0 + i) for i in range(60)]  # past the first copy's 16
    assert series.points_after(same) == later
    assert series.points_after(later[-2]) == [later[-1]]


def test_points_after_a_point_that_left_the_buffer_is_every_point_held() -> None:
    series = MetricSeries("x", maxlen=5)
    gone = series.append(0.0, 0.0)
    kept = [series.append(float(i), float(i)) for i in range(1, 8)]
    assert series.points_after(gone) == kept[-5:]


def test_a_polling_watcher_feeds_the_same_windows_however_the_polls_fall() -> None:
    """Random points (some late, some in the same instant) and polls at random places:
    the windows fed are those the per-point path feeds."""
    rng = random.Random(7)
    t, points = 1000.0, []
    for _ in range(400):
        t += rng.choice([0.0, 0.05, 0.3, 0.9, 2.5])
        late = rng.random() < 0.2
        points.append((t - rng.uniform(0, 1.5) if late else t, float(rng.randint(0, 50))))
    fed: dict[str, list[tuple[float, float]]] = {}
    for path in ("per-point", "polled"):
        telemetry = Telemetry()
        reg = AnomalyRegistry()
        seen = fed[path] = []
        original = reg.detect

        def spy(handle, value, timestamp, *a, _seen=seen, _original=original, **k):  # type: ignore[no-untyped-def]
            _seen.append((value, timestamp))
            return _original(handle, value, timestamp, *a, **k)

        reg.detect = spy  # type: ignore[method-assign]
        poll_s = 3600.0 if path == "polled" else None
        watcher = watch_telemetry(
            telemetry, reg, auto=[("latency", "zscore", 5.0)], window_s=1.0, poll_s=poll_s
        )
        for ts, value in points:
            telemetry.record("latency", value, ts, {"function": "f"})
            if poll_s is not None and rng.random() < 0.1:
                watcher.poll()
        if poll_s is not None:
            watcher.poll()
        watcher.close_windows()
        watcher.close()
    assert len(fed["per-point"]) > 50
    assert fed["polled"] == fed["per-point"]


def test_a_polling_watcher_costs_the_producer_nothing_and_skips_older_points() -> None:
    telemetry = Telemetry()
    s = telemetry.series("latency", {"function": "f"})
    telemetry.publish(s, 500.0, 1.0)  # before the watch: not fed
    reg = AnomalyRegistry()
    threads = len([t for t in threading.enumerate() if t.name == "anomaly-watch"])
    watcher = watch_telemetry(
        telemetry, reg, auto=[("latency", "zscore", 5.0)], window_s=1.0, poll_s=3600.0
    )
    try:
        # no subscriber and no tap: publishing is only the append
        assert telemetry._subscribers == [] and telemetry._taps == []
        for i in range(3):
            telemetry.publish(s, 10.0 + i, 2.0 + 0.1 * i)
        assert reg.detectors() == []  # nothing read yet: polling is off the producer's path
        assert watcher.poll() == 3
        assert watcher.poll() == 0
    finally:
        watcher.close()
        watcher.close()  # idempotent
    (detector,) = reg.detectors()
    assert detector.points == 1  # one window: the mean of the three, not the older 500
    assert len([t for t in threading.enumerate() if t.name == "anomaly-watch"]) == threads


def test_poll_s_must_be_a_positive_number() -> None:
    for bad in (0, -1.0, "1", True):
        with pytest.raises(ValidationError, match="poll_s"):
            watch_telemetry(Telemetry(), AnomalyRegistry(), poll_s=bad)  # type: ignore[arg-type]


def test_a_subscribed_watcher_refuses_to_poll() -> None:
    """Reading the series as well as getting their points would feed each point twice."""
    telemetry = Telemetry()
    watcher = watch_telemetry(telemetry, AnomalyRegistry(), window_s=1.0)
    with pytest.raises(ValidationError, match="poll_s"):
        watcher.poll()
    watcher.close()
