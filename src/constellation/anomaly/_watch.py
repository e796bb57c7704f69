"""Feeding detectors from telemetry: :func:`watch_telemetry` and its :class:`TelemetryWatcher`.

Every new point of a series goes to the detectors on that series (created on the fly
for series matching an ``auto`` rule). With ``window_s``, the points of each series are
rolled up first: each window of ``window_s`` seconds is fed as one point, the mean of its
values at the time of its latest one. The platform feeds its default detectors this
way (1 s windows): at thousands of invocations a second, detecting on each one cost a
fifth of the request-serving core (the detectors hold the GIL), while a function called
less than once a second still has each invocation seen on its own.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable

from ..errors import ConstellationError, ValidationError
from ..telemetry import MetricPoint, MetricSeries, Telemetry
from ._registry import AnomalyRegistry, MetricDetector

__all__ = ["LATE_TOLERANCE_S", "TelemetryWatcher", "watch_telemetry"]

log = logging.getLogger("constellation.anomaly")

# An invocation's point may arrive up to its timeout (at most 900 s) after its timestamp.
LATE_TOLERANCE_S = 900.0


class _Window:
    __slots__ = ("count", "last", "series", "start", "total")

    def __init__(self, series: MetricSeries, point: MetricPoint) -> None:
        self.series = series
        self.start = self.last = point.timestamp
        self.total = point.value
        self.count = 1

    def add(self, point: MetricPoint) -> None:
        self.total += point.value
        self.count += 1
        if point.timestamp > self.last:
            self.last = point.timestamp


class TelemetryWatcher:
    """What :func:`watch_telemetry` returns: calling it unsubscribes (idempotent)."""

    def __init__(
        self,
        telemetry: Telemetry,
        registry: AnomalyRegistry,
        auto: list[tuple[str, str, float | None]],
        instance_label: str,
        window_s: float | None,
    ) -> None:
        self._reg = registry
        self._rules = auto
        self._instance_label = instance_label
        self.window_s = window_s
        self._created: set[str] = set()
        self._targets: dict[str, tuple[int, list[MetricDetector]]] = {}
        self._windows: dict[str, _Window] = {}
        self._lock = threading.RLock()
        batches = getattr(telemetry, "subscribe_batches", None)  # a DeferredSubscribers
        self._unsubscribe: Callable[[], None] | None = (
            batches(self.on_points) if batches is not None else telemetry.subscribe(self.on_point)
        )

    def __call__(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def on_point(self, series: MetricSeries, point: MetricPoint) -> None:
        if self.window_s is None:
            self._feed(series, point.value, point.timestamp)
            return
        with self._lock:
            key = series.key
            window = self._windows.get(key)
            if window is None:
                self._windows[key] = _Window(series, point)
            elif point.timestamp >= window.start + self.window_s:
                self._close(window)
                self._windows[key] = _Window(series, point)
            else:  # in this window, or a late point of an earlier one: counted here
                window.add(point)

    def on_points(self, points: list[tuple[MetricSeries, MetricPoint]]) -> None:
        """:meth:`on_point` for a delivery's points at once: with windows, one lock and
        no call per point (the platform feeds two points per invocation this way)."""
        if self.window_s is None:
            for series, point in points:
                self._feed(series, point.value, point.timestamp)
            return
        window_s = self.window_s
        with self._lock:
            windows = self._windows
            for series, point in points:
                key = series.key
                window = windows.get(key)
                if window is None:
                    windows[key] = _Window(series, point)
                elif point.timestamp >= window.start + window_s:
                    self._close(window)
                    windows[key] = _Window(series, point)
                else:
                    window.total += point.value
                    window.count += 1
                    if point.timestamp > window.last:
                        window.last = point.timestamp

    def close_windows(self, now: float | None = None) -> int:
        """Feed the windows that ended by ``now`` (every open one when None); returns how
        many. The platform calls it every tick, so a quiet series' last window is fed."""
        with self._lock:
            ended = [
                key
                for key, w in self._windows.items()
                if now is None or now >= w.start + (self.window_s or 0.0)
            ]
            for key in ended:
                self._close(self._windows.pop(key))
        return len(ended)

    def _close(self, window: _Window) -> None:
        self._feed(window.series, window.total / window.count, window.last)

    def _detectors(self, series: MetricSeries) -> list[MetricDetector]:
        """The series' detectors, found once per registry version (not per point)."""
        reg, key = self._reg, series.key
        version = reg.version
        cached = self._targets.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        everyone = reg.detectors()
        targets = [d for d in everyone if d.metric == key]
        if not targets:
            targets = [d for d in everyone if d.metric == series.name]
        if not targets and self._rules:
            with self._lock:
                if key not in self._created:
                    self._created.add(key)
                    for pattern, method, sensitivity in self._rules:
                        if fnmatch.fnmatchcase(series.name, pattern):
                            service = series.labels.get("deployment") or series.labels.get(
                                "function"
                            )
                            targets.append(
                                reg.create_detector(
                                    key, method, sensitivity, service_name=service or None
                                )
                            )
            version = reg.version
        self._targets[key] = (version, targets)
        return targets

    def _feed(self, series: MetricSeries, value: float, timestamp: float) -> None:
        instance = series.labels.get(self._instance_label)
        for handle in self._detectors(series):
            if handle.method == "correlation" or handle.metrics is not None:
                continue  # needs a pair or a vector: call detect(...) directly
            when = timestamp
            last = handle.last_timestamp
            if last is not None and last - LATE_TOLERANCE_S <= when <= last:
                # Invocations are stamped when they start and recorded when they end, so
                # concurrent ones arrive a little out of order: fed just after the last.
                when = last + 1e-6
            try:
                self._reg.detect(handle, value, when, instance)
            except ConstellationError as exc:
                log.warning("anomaly: dropped a point of %s: %s", series.key, exc)


def watch_telemetry(
    telemetry: Telemetry,
    registry: AnomalyRegistry | None = None,
    auto: list[tuple[str, str, float | None]] | None = None,
    instance_label: str = "instance",
    window_s: float | None = None,
) -> TelemetryWatcher:
    """Feed every new telemetry point to the detectors on its series; returns the watcher
    (call it to unsubscribe).

    A point of series ``name{labels}`` goes to each detector whose metric is the series
    key (``function_duration_ms{function="resize"}``) or, when none is, its bare name.
    ``auto`` lists ``(glob, method, sensitivity)``: the first point of a new series whose
    name matches gets its own detector (keyed by the series key), which is how every
    function gets default detectors on duration and error rate. The ``instance_label``
    label, when present, becomes the anomaly's instance id. A point up to
    ``LATE_TOLERANCE_S`` older than the series' last one (concurrent invocations finish
    out of order) is fed as if just after it; bad points (not finite, far older) are
    logged and dropped: the producer of the metric is never interrupted. With
    ``window_s``, each series is fed one point per window (see the module docstring);
    :meth:`TelemetryWatcher.close_windows` feeds the windows that have ended.
    """
    from ._api import get_registry

    if window_s is not None and (
        isinstance(window_s, bool) or not isinstance(window_s, int | float) or not window_s > 0
    ):
        raise ValidationError("window_s", f"{window_s!r} is not allowed; expected > 0 seconds")
    reg = registry if registry is not None else get_registry()
    return TelemetryWatcher(telemetry, reg, list(auto or []), instance_label, window_s)
