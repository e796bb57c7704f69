"""Metric series: the platform's own measurements, kept in bounded ring buffers.

The serverless pool records per-function durations, errors and instance counts here;
anomaly detection and predictive scaling read the same series (by name) and may
subscribe to new points. Series are keyed by ``name`` plus sorted labels, e.g.
``function_duration_ms{function="resize"}``.

Tracing: :class:`InvocationTracer` makes each invocation an OpenTelemetry span when the
``[otel]`` extra is installed and the standard ``OTEL_*`` variables ask for traces.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Any, NamedTuple

__all__ = [
    "DeferredSubscribers",
    "InvocationTracer",
    "MetricPoint",
    "MetricSeries",
    "Telemetry",
    "faas_trigger",
    "series_key",
    "tracing_configured",
]


class MetricPoint(NamedTuple):
    timestamp: float
    value: float


_new_tuple = tuple.__new__


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
        # tuple.__new__ skips the NamedTuple's Python-level __new__ (0.1 us of 0.25, on
        # every invocation's path)
        point: MetricPoint = _new_tuple(MetricPoint, (float(timestamp), float(value)))
        self._points.append(point)
        return point

    def points(self, since: float | None = None) -> list[MetricPoint]:
        pts = list(self._points)
        return pts if since is None else [p for p in pts if p.timestamp >= since]

    def last(self) -> MetricPoint | None:
        return self._points[-1] if self._points else None

    def points_after(self, seen: MetricPoint | None, expect: int = 16) -> list[MetricPoint]:
        """The points appended after ``seen`` (a point this series returned), oldest first:
        every point held when ``seen`` is None or has already left the buffer.

        What a reader on another thread polls with: the producer pays nothing for it (no
        queue, no callback), and the reader copies only the newest points, ``expect`` of
        them first (how many it guesses are new: say twice the last poll's count), four
        times as many each time ``seen`` is not among them. Points are found by
        identity, so equal values at equal times are told apart.
        """
        buffer = self._points
        want = max(int(expect), 16)
        while True:
            try:
                if seen is not None and buffer and buffer[-1] is seen:
                    return []
                # one C call, so no other thread appends in between
                newest_first = list(islice(reversed(buffer), want))
            except RuntimeError:  # mutated mid-copy (a finaliser ran): copy again
                continue
            i = _index_of(newest_first, seen)
            if i >= 0:
                del newest_first[i:]
                newest_first.reverse()
                return newest_first
            if len(newest_first) < want:  # the whole buffer, and ``seen`` is not in it
                newest_first.reverse()
                return newest_first
            want *= 4

    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[MetricPoint]:
        return iter(list(self._points))


def _index_of(points: list[MetricPoint], seen: MetricPoint | None) -> int:
    """Where ``seen`` itself is in ``points``, or -1. ``list.index`` finds it in C, but
    stops at an equal point too (same time, same value): those are skipped."""
    if seen is None:
        return -1
    start = 0
    while True:
        try:
            i = points.index(seen, start)
        except ValueError:
            return -1
        if points[i] is seen:
            return i
        start = i + 1


log = logging.getLogger("constellation.telemetry")
Subscriber = Callable[[MetricSeries, MetricPoint], None]


def _add_copy_on_write(
    owner: object, attr: str, item: object, lock: threading.Lock | threading.RLock
) -> Callable[[], None]:
    """Append ``item`` to the list ``owner.attr`` by replacing the list (readers iterate it
    without the lock); returns the remover, which drops it the same way."""
    with lock:
        setattr(owner, attr, [*getattr(owner, attr), item])

    def remove() -> None:
        with lock:
            setattr(owner, attr, [x for x in getattr(owner, attr) if x is not item])

    return remove


class Telemetry:
    """A registry of metric series with subscribers notified on every new point."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._maxlen = maxlen
        self._series: dict[str, MetricSeries] = {}
        self._subscribers: list[Subscriber] = []
        self._taps: list[deque[tuple[MetricSeries, MetricPoint]]] = []
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
        for queue in self._taps:
            queue.append((series, point))
        return point

    def find(self, name: str) -> list[MetricSeries]:
        """Every series called ``name`` (any labels), or the one whose key is ``name``."""
        with self._lock:
            return [s for k, s in self._series.items() if s.name == name or k == name]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._series)

    def all_series(self) -> list[MetricSeries]:
        """Every series, in the order they were created (a snapshot)."""
        with self._lock:
            return list(self._series.values())

    def series_count(self) -> int:
        """How many series exist; series are never removed, so a poller compares it to
        know when to take a new :meth:`all_series` snapshot."""
        return len(self._series)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(series, point)`` on every new point; returns an unsubscribe."""
        # copy-on-write: publish() iterates without a lock
        return _add_copy_on_write(self, "_subscribers", callback, self._lock)

    def tap(self, queue: deque[tuple[MetricSeries, MetricPoint]]) -> Callable[[], None]:
        """Append ``(series, point)`` to ``queue`` on every new point; returns an untap.
        A subscriber without the call: what a consumer on another thread needs, at the
        cost of one tuple on the producer's (hot) path."""
        return _add_copy_on_write(self, "_taps", queue, self._lock)


PointBatch = list[tuple[MetricSeries, MetricPoint]]
BatchSubscriber = Callable[[PointBatch], None]


class DeferredSubscribers:
    """Subscribers called from a background thread, so a slow one (an anomaly detector)
    never delays the producer of a metric (an invocation on its hot path).

    It has the same ``subscribe`` as :class:`Telemetry` and can stand in for it. Points
    wait in a bounded queue (the oldest are dropped when it is full) and are delivered
    in order every ``interval_s``; :meth:`flush` delivers them now. ``close`` is idempotent.
    :meth:`subscribe_batches` callbacks get each delivery's points as one list (in order):
    one call per delivery instead of one per point.
    :meth:`add_tick` callbacks run on the same thread after each periodic delivery.
    """

    def __init__(
        self, telemetry: Telemetry, interval_s: float = 0.1, maxlen: int = 100_000
    ) -> None:
        self._queue: deque[tuple[MetricSeries, MetricPoint]] = deque(maxlen=maxlen)
        self._subscribers: list[Subscriber] = []
        self._batch_subscribers: list[BatchSubscriber] = []
        self._ticks: list[Callable[[], object]] = []
        self._lock = threading.RLock()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._unsubscribe = telemetry.tap(self._queue)
        self._thread = threading.Thread(target=self._run, name="telemetry-deferred", daemon=True)
        self._thread.start()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return _add_copy_on_write(self, "_subscribers", callback, self._lock)

    def subscribe_batches(self, callback: BatchSubscriber) -> Callable[[], None]:
        """Call ``callback(points)`` once per delivery with its ``(series, point)`` pairs."""
        return _add_copy_on_write(self, "_batch_subscribers", callback, self._lock)

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
        queue = self._queue
        with self._lock:  # one drainer at a time keeps the order
            while queue:
                # popleft only: the producer may append while this drains
                batch = [queue.popleft() for _ in range(len(queue))]
                for subscriber in self._subscribers:
                    for series, point in batch:
                        subscriber(series, point)
                for batch_subscriber in self._batch_subscribers:
                    batch_subscriber(batch)
                delivered += len(batch)
        return delivered

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._unsubscribe()
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.flush()


# -- tracing -------------------------------------------------------------------------
_FAAS_TRIGGERS = {
    "http": "http",
    "timer": "timer",
    "queue": "pubsub",
    "stream": "pubsub",
    "event": "pubsub",
}


def faas_trigger(trigger: str | None) -> str:
    """OpenTelemetry's ``faas.trigger`` for a Constellation trigger type: ``http``,
    ``timer``, ``pubsub`` (queue, stream and event triggers) or ``other`` (a direct call)."""
    return _FAAS_TRIGGERS.get(trigger or "", "other")


def tracing_configured(env: Mapping[str, str]) -> bool:
    """Whether the standard ``OTEL_*`` variables ask for traces: an OTLP endpoint, or a
    traces exporter other than ``none``; ``OTEL_SDK_DISABLED=true`` turns them off."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "")
    if exporter:
        return exporter.lower() != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


class InvocationTracer:
    """Each invocation as an OpenTelemetry span (kind SERVER), made when it is recorded.

    The span starts when the call started and lasts its init (a cold start) plus run
    time. Its parent is the W3C ``traceparent`` the call came with (an HTTP request's
    header, a CloudEvent's extension). Attributes follow the FaaS conventions
    (``faas.trigger``, ``faas.invocation_id``, ``faas.coldstart``, ``faas.name``,
    ``faas.version``, ``faas.instance``, ``faas.max_memory``), plus the bill:
    ``constellation.billed_duration_ms``, ``constellation.memory_used_mb``,
    ``constellation.init_duration_ms`` and ``constellation.status``; a call that did not
    succeed has status ERROR and ``error.type``. Needs the ``[otel]`` extra
    (``opentelemetry-sdk``); :meth:`from_env` builds one from the ``OTEL_*`` variables.
    ``close()`` flushes and shuts down a provider it made itself; idempotent.
    """

    def __init__(self, provider: object, *, owned: bool = False) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._provider = provider
        self._owned = owned
        self._tracer = provider.get_tracer("constellation")  # type: ignore[attr-defined]
        self._propagator = TraceContextTextMapPropagator()
        self._kind = SpanKind.SERVER
        self._error = Status(StatusCode.ERROR)
        self._closed = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InvocationTracer | None:
        """A tracer exporting as the ``OTEL_*`` variables say (OTLP by default), or None
        when they ask for no traces or the ``[otel]`` extra is not installed."""
        if not tracing_configured(os.environ if env is None else env):
            return None
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning(
                "OTEL_* asks for traces but opentelemetry-sdk is missing: pip install 'constellation[otel]'"
            )
            return None
        exporter = _exporter(
            (os.environ if env is None else env).get("OTEL_TRACES_EXPORTER", "otlp")
        )
        if exporter is None:
            return None
        provider = TracerProvider(resource=Resource.create({"service.name": "constellation"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider, owned=True)

    def record(
        self,
        result: object,
        *,
        version: int,
        trace_parent: str | None,
        trigger: str | None,
    ) -> None:
        """One span for a recorded invocation (an ``InvocationResult``)."""
        r: Any = result
        parent = None
        if trace_parent:
            parent = self._propagator.extract({"traceparent": trace_parent})
        start_ns = int(r.started_at * 1e9)
        end_ns = start_ns + int((r.init_duration_ms + r.duration_ms) * 1e6)
        attributes = {
            "faas.trigger": faas_trigger(trigger),
            "faas.invocation_id": r.request_id,
            "faas.coldstart": bool(r.cold_start),
            "faas.name": r.function_name,
            "faas.version": str(version),
            "faas.instance": r.instance_id or "",
            "faas.max_memory": int(r.memory_limit_mb) * 1024 * 1024,
            "constellation.status": r.status,
            "constellation.billed_duration_ms": int(r.billed_duration_ms),
            "constellation.memory_used_mb": float(r.memory_used_mb),
            "constellation.init_duration_ms": float(r.init_duration_ms),
        }
        span = self._tracer.start_span(
            r.function_name,
            context=parent,
            kind=self._kind,
            attributes=attributes,
            start_time=start_ns,
        )
        if r.status != "success":
            span.set_attribute("error.type", r.error_type or r.status)
            span.set_status(self._error)
        span.end(end_time=end_ns)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owned:
            self._provider.shutdown()  # type: ignore[attr-defined]


def _exporter(name: str) -> Any:
    """The span exporter named by ``OTEL_TRACES_EXPORTER`` (otlp or console)."""
    name = name.lower().split(",")[0].strip() or "otlp"
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported here (otlp, console)", name)
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("OTLP over gRPC needs opentelemetry-exporter-otlp-proto-grpc")
            return None
        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http()  # endpoint, headers, timeout: read from OTEL_EXPORTER_OTLP_* itself
