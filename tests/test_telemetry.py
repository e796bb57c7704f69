"""The telemetry bus's delivery paths: taps, deferred per-point and per-batch subscribers."""

from __future__ import annotations

from collections import deque
from typing import cast

from constellation.anomaly import AnomalyRegistry, watch_telemetry
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
    for path in ("per-point", "batched"):
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
        watcher = watch_telemetry(source, reg, auto=[("latency", "zscore", 5.0)], window_s=1.0)
        for t, value in points:
            telemetry.record("latency", value, t, {"function": "f"})
        if deferred is not None:
            deferred.flush()
        watcher.close_windows()
        if deferred is not None:
            deferred.close()
    assert fed["batched"] == fed["per-point"]
    assert [v for v, _ in fed["per-point"]] == [20.0, 22.5, 8.0, 1.0]  # window means
