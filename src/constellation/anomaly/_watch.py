"""Feeding detectors from telemetry: :func:`watch_telemetry` and its :class:`TelemetryWatcher`.

Every new point of a series goes to the detectors on that series (created on the fly
for series matching an ``auto`` rule). With ``window_s``, the points of each series are
rolled up first: each window of ``window_s`` seconds is fed as one point, the mean of its
values at the time of its latest one. The platform feeds its default detectors this
way (1 s windows): at thousands of invocations a second, detecting on each one cost a
fifth of the request-serving core (the detectors hold the GIL), while a function called
less than once a second still has each invocation seen on its own.

With ``poll_s`` the watcher reads the series itself on its own thread instead of
subscribing: the producer of a metric then pays nothing for it (no callback, no queue
entry), and each poll folds a series' new points into its window with a few C-level
calls rather than Python code per point. The platform watches its metrics this way.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from operator import itemgetter

from ..errors import ConstellationError, ValidationError
from ..telemetry import MetricPoint, MetricSeries, Telemetry
from ._registry import AnomalyRegistry, MetricDetector

__all__ = ["LATE_TOLERANCE_S", "TelemetryWatcher", "watch_telemetry"]

log = logging.getLogger("constellation.anomaly")

# An invocation's point may arrive up to its timeout (at most 900 s) after its timestamp.
LATE_TOLERANCE_S = 900.0

_timestamp = itemgetter(0)
_value = itemgetter(1)


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
        poll_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reg = registry
        self._rules = auto
        self._instance_label = instance_label
        self.window_s = window_s
        self._created: set[str] = set()
        self._targets: dict[str, tuple[int, list[MetricDetector]]] = {}
        self._windows: dict[str, _Window] = {}
        self._lock = threading.RLock()
        self._telemetry = telemetry
        self._clock = clock
        self._polled: list[MetricSeries] = []
        self._seen: dict[str, MetricPoint] = {}  # each series' newest point read
        self._expect: dict[str, int] = {}  # how many new points its next poll may find
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.poll_s = poll_s
        if poll_s is not None:
            # points published before the watch began are not fed (as when subscribing)
            self._polled = telemetry.all_series()
            self._seen = {s.key: last for s in self._polled if (last := s.last()) is not None}
            self._poller = threading.Thread(
                target=self._poll_every, args=(poll_s,), name="anomaly-watch", daemon=True
            )
            self._poller.start()
            return
        batches = getattr(telemetry, "subscribe_batches", None)  # a DeferredSubscribers
        self._unsubscribe = (
            batches(self.on_points) if batches is not None else telemetry.subscribe(self.on_point)
        )

    def __call__(self) -> None:
        """Stop watching (idempotent). A polling watcher reads the points still unread
        and feeds every open window first."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        poller, self._poller = self._poller, None
        if poller is not None:
            self._stop.set()
            poller.join(timeout=5.0)
            self.poll()
            self.close_windows()

    close = __call__

    def _poll_every(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.poll()
                self.close_windows(self._clock())
            except Exception:  # a failing detector must not end the watching
                log.exception("anomaly: polling the metrics failed")

    def poll(self) -> int:
        """Read every series' points appended since the last poll and fold them into
        their windows (or feed them, without windows); returns how many were read."""
        if self.poll_s is None:  # subscribed: reading too would feed every point twice
            raise ValidationError("poll_s", "poll() reads only for a watcher made with poll_s")
        telemetry = self._telemetry
        read = 0
        with self._lock:
            if len(self._polled) != telemetry.series_count():
                self._polled = telemetry.all_series()
            seen, expect = self._seen, self._expect
            for series in self._polled:
                key = series.key
                new = series.points_after(seen.get(key), expect.get(key, 16))
                if not new:
                    continue
                seen[key] = new[-1]
                expect[key] = 2 * len(new)  # a busy series' next poll copies once
                read += len(new)
                if not self._detectors(series):
                    continue
                if self.window_s is None:
                    for point in new:
                        self._feed(series, point.value, point.timestamp)
                else:
                    self._fold(series, new)
        return read

    def _fold(self, series: MetricSeries, points: list[MetricPoint]) -> None:
        """``on_point`` for each of a series' new points, in order, with the same result:
        the runs of points inside one window are summed by C-level builtins."""
        window_s = self.window_s or 0.0
        windows, key = self._windows, series.key
        start, n = 0, len(points)
        while start < n:
            window = windows.get(key)
            if window is None:
                windows[key] = _Window(series, points[start])
                start += 1
                continue
            end = window.start + window_s
            run = points[start:] if start else points
            newest = max(map(_timestamp, run))
            if newest < end:  # the usual case: all in this window
                split = n
            else:  # the first point at or past its end starts the next window
                split = start + next(i for i, p in enumerate(run) if p.timestamp >= end)
                run = points[start:split]
                newest = max(map(_timestamp, run)) if run else window.last
            if run:
                window.total = sum(map(_value, run), window.total)
                window.count += len(run)
                if newest > window.last:
                    window.last = newest
            if split == n:
                return
            self._close(window)
            windows[key] = _Window(series, points[split])
            start = split + 1

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
    poll_s: float | None = None,
    clock: Callable[[], float] = time.time,
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

    With ``poll_s``, the watcher does not subscribe: its own thread reads each series'
    new points every ``poll_s`` seconds (:meth:`TelemetryWatcher.poll`) and feeds the
    windows that ended by ``clock()``; the same points are fed as when subscribed, at
    most ``poll_s`` later, and a producer pays nothing per point. A series keeps its
    newest points only (``Telemetry(maxlen=...)``): points that left it between two
    polls are not fed.
    """
    from ._api import get_registry

    _check_seconds("window_s", window_s)
    _check_seconds("poll_s", poll_s)
    reg = registry if registry is not None else get_registry()
    return TelemetryWatcher(
        telemetry, reg, list(auto or []), instance_label, window_s, poll_s, clock
    )


def _check_seconds(field: str, value: object) -> None:
    """None, or a number of seconds above 0; else a ValidationError naming ``field``."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
    ):
        raise ValidationError(field, f"{value!r} is not allowed; expected > 0 seconds")
