"""Metric series: the platform's own measurements, kept in bounded ring buffers.

The serverless pool records per-function durations, errors and instance counts here;
anomaly detection and predictive scaling read the same series (by name) and may
subscribe to new points. Series are keyed by ``name`` plus sorted labels, e.g.
``function_duration_ms{function="resize"}``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

__all__ = ["DeferredSubscribers", "MetricPoint", "MetricSeries", "Telemetry", "series_key"]


class MetricPoint(NamedTuple):
    timestamp: float
    value: float


def series_key(name: str, labels: Mapping[str, str] | None = None) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}"


class MetricSeries:
    """A bounded, append-only series of (timestamp, value) points."""

    def __init__(self, name: str, labels: Mapping[str, str] | None = None, maxlen: int = 10_000):
        self.name = name
        self.labels = dict(labels or {})
        self.key = series_key(name, self.labels)  # looked up for every point downstream
        self._points: deque[MetricPoint] = deque(maxlen=maxlen)

    def append(self, value: float, timestamp: float) -> MetricPoint:
        point = MetricPoint(float(timestamp), float(value))
        self._points.append(point)
        return point

    def points(self, since: float | None = None) -> list[MetricPoint]:
        pts = list(self._points)
        return pts if since is None else [p for p in pts if p.timestamp >= since]

    def last(self) -> MetricPoint | None:
        return self._points[-1] if self._points else None

    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[MetricPoint]:
        return iter(list(self._points))


log = logging.getLogger("constellation.telemetry")
Subscriber = Callable[[MetricSeries, MetricPoint], None]


class Telemetry:
    """A registry of metric series with subscribers notified on every new point."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._maxlen = maxlen
        self._series: dict[str, MetricSeries] = {}
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def series(self, name: str, labels: Mapping[str, str] | None = None) -> MetricSeries:
        key = series_key(name, labels)
        with self._lock:
            found = self._series.get(key)
            if found is None:
                found = self._series[key] = MetricSeries(name, labels, self._maxlen)
            return found

    def record(
        self, name: str, value: float, timestamp: float, labels: Mapping[str, str] | None = None
    ) -> MetricPoint:
        return self.publish(self.series(name, labels), value, timestamp)

    def publish(self, series: MetricSeries, value: float, timestamp: float) -> MetricPoint:
        """Append to a series obtained from :meth:`series` (the hot path keeps it)."""
        point = series.append(value, timestamp)
        for subscriber in self._subscribers:
            subscriber(series, point)
        return point

    def find(self, name: str) -> list[MetricSeries]:
        """Every series called ``name`` (any labels), or the one whose key is ``name``."""
        with self._lock:
            return [s for k, s in self._series.items() if s.name == name or k == name]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._series)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(series, point)`` on every new point; returns an unsubscribe."""
        with self._lock:  # copy-on-write: publish() iterates without a lock
            self._subscribers = [*self._subscribers, callback]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not callback]

        return unsubscribe


class DeferredSubscribers:
    """Subscribers called from a background thread, so a slow one (an anomaly detector)
    never delays the producer of a metric (an invocation on its hot path).

    It has the same ``subscribe`` as :class:`Telemetry` and can stand in for it. Points
    wait in a bounded queue (the oldest are dropped when it is full) and are delivered
    in order every ``interval_s``; :meth:`flush` delivers them now. ``close`` is idempotent.
    :meth:`add_tick` callbacks run on the same thread after each periodic delivery.
    """

    def __init__(
        self, telemetry: Telemetry, interval_s: float = 0.1, maxlen: int = 100_000
    ) -> None:
        self._queue: deque[tuple[MetricSeries, MetricPoint]] = deque(maxlen=maxlen)
        self._subscribers: list[Subscriber] = []
        self._ticks: list[Callable[[], object]] = []
        self._lock = threading.RLock()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._unsubscribe = telemetry.subscribe(
            lambda series, point: self._queue.append((series, point))
        )
        self._thread = threading.Thread(target=self._run, name="telemetry-deferred", daemon=True)
        self._thread.start()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not callback]

        return unsubscribe

    def add_tick(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` on the delivery thread after each periodic delivery."""
        with self._lock:
            self._ticks = [*self._ticks, callback]

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()
            for tick in self._ticks:
                try:
                    tick()
                except Exception:  # a failing tick must not stop the deliveries
                    log.exception("telemetry: a tick callback failed")

    def flush(self) -> int:
        """Deliver every queued point now; returns how many."""
        delivered = 0
        with self._lock:  # one drainer at a time keeps the order
            while self._queue:
                series, point = self._queue.popleft()
                for subscriber in self._subscribers:
                    subscriber(series, point)
                delivered += 1
        return delivered

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._unsubscribe()
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.flush()
