"""The anomaly registry: detectors per metric, rules, active anomalies and callbacks.

One :class:`AnomalyRegistry` holds everything the seed's module-level API acts on. It
takes an optional :class:`~constellation.store.Store` (anomalies are then persisted)
and a clock (``() -> unix seconds``) so tests and the platform control time. Thread
safe: one lock guards the state; callbacks run outside it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..store import Store
from ._base import Baseline, ThresholdFilter, check_finite
from ._contextual import Correlation
from ._methods import build_filter, build_pair, method_info, resolve_sensitivity
from ._persist import AnomalyTable
from ._records import (
    SEVERITIES,
    Anomaly,
    Rule,
    check_severity,
    check_type,
    recommend,
    severity_rank,
)

__all__ = ["AnomalyRegistry", "MetricDetector"]

log = logging.getLogger("constellation.anomaly")

Callback = Callable[[Anomaly], None]


@dataclass(eq=False)
class MetricDetector:
    """A detector watching one metric, as returned by ``create_detector``."""

    id: str
    metric: str
    method: str
    sensitivity: float
    type: str
    created_at: float
    options: dict[str, Any] = field(default_factory=dict)
    baseline: Baseline | None = None  # refreshed every baseline_interval_s
    baseline_at: float | None = None
    last_timestamp: float | None = None
    last_score: float = 0.0
    points: int = 0
    anomalies: int = 0
    _filter: ThresholdFilter | None = field(default=None, repr=False)
    _pair: Correlation | None = field(default=None, repr=False)

    def current_baseline(self, paired_value: float | None = None) -> Baseline | None:
        """The live baseline (the snapshot in :attr:`baseline` lags by up to the interval)."""
        if self._filter is not None:
            return self._filter.detector.baseline(self.sensitivity)
        if self._pair is not None and paired_value is not None:
            return self._pair.baseline(self.sensitivity, paired_value)
        return None


class AnomalyRegistry:
    """Detectors, rules and anomalies. See the package docstring for the API contract."""

    def __init__(
        self,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        baseline_interval_s: float = 300.0,
        auto_resolve_after: int = 5,
        flush_interval_s: float = 1.0,
    ) -> None:
        if check_finite("baseline_interval_s", baseline_interval_s) <= 0:
            raise ValidationError("baseline_interval_s", "must be > 0")
        if (
            isinstance(auto_resolve_after, bool)
            or not isinstance(auto_resolve_after, int)
            or (auto_resolve_after < 1)
        ):
            raise ValidationError(
                "auto_resolve_after", f"{auto_resolve_after!r} is out of range; expected >= 1"
            )
        self.clock = clock
        self.baseline_interval_s = float(baseline_interval_s)
        self.auto_resolve_after = auto_resolve_after
        self.flush_interval_s = flush_interval_s
        self._lock = threading.RLock()
        self._detectors: dict[str, MetricDetector] = {}
        self._rules: dict[str, Rule] = {}
        self._active: dict[str, Anomaly] = {}  # by anomaly id
        self._open: dict[tuple[str, str | None], str] = {}  # (detector, instance) -> id
        self._normal_run: dict[str, int] = {}  # anomaly id -> normal points since
        self._flushed_at: dict[str, float] = {}
        self._callbacks: list[tuple[Callback, int]] = []
        self._stats = {"points": 0, "detected": 0, "resolved": 0, "recorded": 0}
        self._by_severity = dict.fromkeys(SEVERITIES, 0)
        self._table = AnomalyTable(store) if store is not None else None
        if self._table is not None:
            for anomaly in self._table.open_anomalies():
                self._active[anomaly.id] = anomaly
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    # -- detectors and rules -------------------------------------------------------------
    def create_detector(
        self,
        metric: str,
        method: str = "zscore",
        sensitivity: float | None = None,
        **options: Any,
    ) -> MetricDetector:
        """A detector on ``metric``. ``options`` go to the method (``window``, ``alpha``...);
        ``paired_with`` names the other metric of a ``correlation`` detector."""
        if not isinstance(metric, str) or not metric:
            raise ValidationError("metric", f"{metric!r} is not allowed; expected a non-empty str")
        info = method_info(method)
        options = dict(options)
        paired_with = options.pop("paired_with", None)
        level = resolve_sensitivity(method, sensitivity, options)
        handle = MetricDetector(
            id=f"det-{uuid.uuid4().hex[:12]}",
            metric=metric,
            method=method,
            sensitivity=level,
            type=info.anomaly_type,
            created_at=self.clock(),
            options=dict(options),
        )
        if method == "correlation":
            if not isinstance(paired_with, str) or not paired_with:
                raise ValidationError("paired_with", "correlation needs the other metric's name")
            handle.options["paired_with"] = paired_with
            handle._pair = build_pair(options)
        else:
            if paired_with is not None:
                raise ValidationError("paired_with", "only the correlation method takes it")
            handle._filter, _ = build_filter(method, level, options)
        with self._lock:
            self._detectors[handle.id] = handle
        return handle

    def get_detector(self, detector: MetricDetector | str) -> MetricDetector:
        key = detector.id if isinstance(detector, MetricDetector) else detector
        with self._lock:
            found = self._detectors.get(key)  # type: ignore[arg-type]
        if found is None:
            raise NotFoundError("detector", key)
        return found

    def detectors(self) -> list[MetricDetector]:
        with self._lock:
            return list(self._detectors.values())

    def destroy_detector(self, detector: MetricDetector | str) -> None:
        """Forget a detector; its open anomalies stay until resolved."""
        handle = self.get_detector(detector)
        with self._lock:
            self._detectors.pop(handle.id, None)
            for key in [k for k in self._open if k[0] == handle.id]:
                del self._open[key]

    def create_rule(
        self,
        name: str,
        pattern: str,
        threshold: float = 0.0,
        severity: str = "warning",
        type: str | None = None,
    ) -> Rule:
        """Anomalies on metrics matching the glob ``pattern`` whose score reaches
        ``threshold`` get ``severity`` (the most severe matching rule wins)."""
        rule = Rule(name, pattern, threshold, severity, type)
        with self._lock:
            self._rules[name] = rule
        return rule

    def delete_rule(self, name: str) -> None:
        with self._lock:
            if self._rules.pop(name, None) is None:
                raise NotFoundError("rule", name)

    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules.values())

    def _severity_for(self, metric: str, anomaly_type: str, score: float) -> str:
        matching = [r for r in self._rules.values() if r.applies_to(metric, anomaly_type)]
        if not matching:
            return "warning"
        reached = [r.severity for r in matching if score >= r.threshold]
        return max(reached, key=severity_rank) if reached else "info"

    # -- detection -----------------------------------------------------------------------
    def detect(
        self,
        detector: MetricDetector | str,
        value: float,
        timestamp: float | None = None,
        instance_id: str | None = None,
        paired_value: float | None = None,
    ) -> Anomaly | None:
        """Score ``value``; returns the (new or continuing) anomaly, or None when normal."""
        handle = self.get_detector(detector)
        x = check_finite("value", value)
        if timestamp is not None:
            t = check_finite("timestamp", timestamp)
            last = handle.last_timestamp
            if last is not None and t < last:
                raise ValidationError("timestamp", f"{t!r} is before the last point ({last!r})")
            if last is not None and t == last:
                raise ValidationError("timestamp", f"{t!r} repeats the last point's timestamp")
        else:
            t = self.clock()
        pair = None if paired_value is None else check_finite("paired_value", paired_value)
        if handle._pair is not None and pair is None:
            raise ValidationError("paired_value", f"the value of {handle.options['paired_with']}")
        started = time.perf_counter()
        with self._lock:
            if handle.id not in self._detectors:
                raise NotFoundError("detector", handle.id)
            expected = handle.current_baseline(pair)
            if handle._pair is not None and pair is not None:
                score = handle._pair.score_pair(pair, x)
                anomalous = score > handle.sensitivity
                if not anomalous:
                    handle._pair.learn_pair(pair, x)
                confidence = handle._pair.confidence(score)
            else:
                assert handle._filter is not None
                score, anomalous = handle._filter.update(x, t)
                confidence = handle._filter.detector.confidence(score)
            handle.last_timestamp, handle.last_score = t, score
            handle.points += 1
            self._stats["points"] += 1
            self._maybe_refresh(handle, t)
            if anomalous:
                anomaly, is_new = self._open_or_continue(
                    handle, x, t, instance_id, score, confidence, expected
                )
            else:
                self._note_normal(handle, instance_id, t)
                anomaly, is_new = None, False
        self._detect_us = (time.perf_counter() - started) * 1e6
        if anomaly is not None and is_new:
            self._notify(anomaly)
        return anomaly

    def _open_or_continue(
        self,
        handle: MetricDetector,
        x: float,
        t: float,
        instance_id: str | None,
        score: float,
        confidence: float,
        expected: Baseline | None,
    ) -> tuple[Anomaly, bool]:
        key = (handle.id, instance_id)
        existing = self._active.get(self._open.get(key, ""))
        if existing is not None:
            existing.last_seen_at = t
            existing.points += 1
            self._normal_run[existing.id] = 0
            if score > existing.score:  # keep the peak value of the incident
                existing.score, existing.detected_value = score, x
                existing.confidence = max(existing.confidence, confidence)
                severity = self._severity_for(handle.metric, handle.type, score)
                if severity_rank(severity) > severity_rank(existing.severity):
                    existing.severity = severity
            existing.recommendation = recommend(existing)
            self._persist(existing, force=False)
            return existing, False
        anomaly = Anomaly(
            id=f"an-{uuid.uuid4().hex[:12]}",
            metric_name=handle.metric,
            type=handle.type,
            detected_value=x,
            expected_value=None if expected is None else expected.expected,
            expected_low=None if expected is None else expected.lower,
            expected_high=None if expected is None else expected.upper,
            confidence=round(confidence, 6),
            severity=self._severity_for(handle.metric, handle.type, score),
            recommendation="",
            instance_id=instance_id,
            detected_at=t,
            last_seen_at=t,
            score=score,
            detector_id=handle.id,
            method=handle.method,
        )
        if handle._pair is not None:
            anomaly.details["paired_with"] = str(handle.options["paired_with"])
        anomaly.recommendation = recommend(anomaly)
        self._active[anomaly.id] = anomaly
        self._open[key] = anomaly.id
        self._normal_run[anomaly.id] = 0
        handle.anomalies += 1
        self._stats["detected"] += 1
        self._by_severity[anomaly.severity] += 1
        self._persist(anomaly, force=True)
        return anomaly, True

    def _note_normal(self, handle: MetricDetector, instance_id: str | None, t: float) -> None:
        anomaly_id = self._open.get((handle.id, instance_id))
        if anomaly_id is None:
            return
        run = self._normal_run.get(anomaly_id, 0) + 1
        self._normal_run[anomaly_id] = run
        if run >= self.auto_resolve_after:
            self._resolve_locked(anomaly_id, t)

    # -- anomalies -------------------------------------------------------------------------
    def get_active(self, metric: str | None = None, severity: str | None = None) -> list[Anomaly]:
        """Open anomalies, oldest first; optionally for one metric (glob) and severity and up."""
        import fnmatch

        floor = 0 if severity is None else severity_rank(check_severity(severity))
        with self._lock:
            found = [
                a
                for a in self._active.values()
                if (metric is None or fnmatch.fnmatchcase(a.metric_name, metric))
                and severity_rank(a.severity) >= floor
            ]
        return sorted(found, key=lambda a: a.detected_at)

    def get(self, anomaly_id: str) -> Anomaly:
        with self._lock:
            found = self._active.get(anomaly_id)
        if found is None and self._table is not None:
            found = next((a for a in self._table.history(limit=10_000) if a.id == anomaly_id), None)
        if found is None:
            raise NotFoundError("anomaly", anomaly_id)
        return found

    def history(
        self, metric: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[Anomaly]:
        """Stored anomalies, newest first (needs a store; else the open ones)."""
        if self._table is None:
            return sorted(self.get_active(metric), key=lambda a: -a.detected_at)[:limit]
        return self._table.history(metric, since, limit)

    def resolve(self, anomaly_id: str, at: float | None = None) -> Anomaly:
        """Close an anomaly (idempotent for an already resolved stored one)."""
        with self._lock:
            if anomaly_id not in self._active:
                return self.get(anomaly_id)
            return self._resolve_locked(anomaly_id, self.clock() if at is None else at)

    def _resolve_locked(self, anomaly_id: str, t: float) -> Anomaly:
        anomaly = self._active.pop(anomaly_id)
        anomaly.resolved_at = max(t, anomaly.last_seen_at)
        anomaly.recommendation = recommend(anomaly)
        for key in [k for k, v in self._open.items() if v == anomaly_id]:
            del self._open[key]
        self._normal_run.pop(anomaly_id, None)
        self._stats["resolved"] += 1
        self._persist(anomaly, force=True)
        self._flushed_at.pop(anomaly_id, None)
        return anomaly

    def record(
        self,
        metric_name: str,
        detected_value: float,
        expected_value: float | None = None,
        severity: str = "warning",
        type: str = "statistical",
        instance_id: str | None = None,
        confidence: float = 1.0,
        recommendation: str | None = None,
        timestamp: float | None = None,
    ) -> Anomaly:
        """Record an anomaly found elsewhere (a health check, a log scan)."""
        if not isinstance(metric_name, str) or not metric_name:
            raise ValidationError("metric_name", f"{metric_name!r} is not a non-empty str")
        value = check_finite("detected_value", detected_value)
        expected = (
            None if expected_value is None else check_finite("expected_value", expected_value)
        )
        level = check_finite("confidence", confidence)
        if not 0 <= level <= 1:
            raise ValidationError("confidence", f"{confidence!r} is out of range; expected 0-1")
        t = self.clock() if timestamp is None else check_finite("timestamp", timestamp)
        anomaly = Anomaly(
            id=f"an-{uuid.uuid4().hex[:12]}",
            metric_name=metric_name,
            type=check_type(type),
            detected_value=value,
            expected_value=expected,
            expected_low=None,
            expected_high=None,
            confidence=level,
            severity=check_severity(severity),
            recommendation="",
            instance_id=instance_id,
            detected_at=t,
            last_seen_at=t,
            score=math.nan if expected is None else abs(value - expected),
        )
        anomaly.recommendation = recommendation or recommend(anomaly)
        with self._lock:
            self._active[anomaly.id] = anomaly
            self._stats["recorded"] += 1
            self._by_severity[anomaly.severity] += 1
            self._persist(anomaly, force=True)
        self._notify(anomaly)
        return anomaly

    # -- callbacks, persistence, baselines, stats -------------------------------------------
    def on_detect(self, callback: Callback, severity: str | None = None) -> Callable[[], None]:
        """Call ``callback(anomaly)`` for each new anomaly of ``severity`` or worse (None:
        all). Returns a function that unsubscribes. A failing callback is logged."""
        if not callable(callback):
            raise ValidationError("callback", f"{callback!r} is not callable")
        entry = (callback, 0 if severity is None else severity_rank(check_severity(severity)))
        with self._lock:
            self._callbacks.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._callbacks:
                    self._callbacks.remove(entry)

        return unsubscribe

    def _notify(self, anomaly: Anomaly) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback, floor in callbacks:
            if severity_rank(anomaly.severity) >= floor:
                try:
                    callback(anomaly)
                except Exception:
                    log.exception("on_detect callback %r failed for %s", callback, anomaly.id)

    def _persist(self, anomaly: Anomaly, force: bool) -> None:
        if self._table is None:
            return
        last = self._flushed_at.get(anomaly.id)
        if force or last is None or anomaly.last_seen_at - last >= self.flush_interval_s:
            self._table.save(anomaly)
            self._flushed_at[anomaly.id] = anomaly.last_seen_at

    def _maybe_refresh(self, handle: MetricDetector, now: float) -> None:
        if handle.baseline_at is None or now - handle.baseline_at >= self.baseline_interval_s:
            handle.baseline = handle.current_baseline()
            handle.baseline_at = now

    def refresh_baselines(self, now: float | None = None) -> int:
        """Refresh every baseline snapshot that is due; returns how many were refreshed."""
        t = self.clock() if now is None else now
        with self._lock:
            due = [
                d
                for d in self._detectors.values()
                if d.baseline_at is None or t - d.baseline_at >= self.baseline_interval_s
            ]
            for handle in due:
                self._maybe_refresh(handle, t)
        return len(due)

    def get_stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "detectors": len(self._detectors),
                "rules": len(self._rules),
                "active": len(self._active),
                "points_processed": self._stats["points"],
                "anomalies_detected": self._stats["detected"],
                "anomalies_recorded": self._stats["recorded"],
                "anomalies_resolved": self._stats["resolved"],
                "by_severity": dict(self._by_severity),
                "methods": sorted({d.method for d in self._detectors.values()}),
                "running": self.is_running(),
                "last_detect_us": round(getattr(self, "_detect_us", 0.0), 1),
                "baseline_interval_s": self.baseline_interval_s,
            }

    # -- lifecycle ----------------------------------------------------------------------
    def init(self) -> None:
        """Start the baseline refresh loop (optional: detection works without it)."""
        with self._lock:
            if self._loop is not None and self._loop.is_alive():
                return
            self._stop.clear()
            self._loop = threading.Thread(target=self._run, name="anomaly-baselines", daemon=True)
            self._loop.start()

    def _run(self) -> None:
        while not self._stop.wait(min(self.baseline_interval_s, 60.0)):
            self.refresh_baselines()

    def is_running(self) -> bool:
        return self._loop is not None and self._loop.is_alive()

    def shutdown(self) -> None:
        """Stop the loop and flush open anomalies; idempotent. The store stays open."""
        self._stop.set()
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.join(timeout=5)
        with self._lock:
            if self._table is not None and not self._table.store.closed:
                for anomaly in self._active.values():
                    self._table.save(anomaly)

    close = shutdown

    def __enter__(self) -> AnomalyRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
