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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..store import Store
from ._base import check_finite
from ._incidents import Incidents, draft_anomaly, new_anomaly_id
from ._inputs import (
    add_details,
    as_vector,
    check_metrics,
    check_service,
    ordered_timestamp,
    top_contributor,
)
from ._methods import MULTIVARIATE, MetricDetector, attach_model, method_info, resolve_sensitivity
from ._persist import AnomalyTable
from ._records import Anomaly, Rule, check_severity, check_type, recommend, severity_rank
from ._state import DetectorStates

__all__ = ["AnomalyRegistry", "MetricDetector"]

log = logging.getLogger("constellation.anomaly")


class AnomalyRegistry:
    """Detectors, rules and anomalies. See the package docstring for the API contract."""

    def __init__(
        self,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        baseline_interval_s: float = 300.0,
        auto_resolve_after: int = 5,
        flush_interval_s: float = 1.0,
        timestamp_tolerance_s: float = 60.0,
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
        if check_finite("timestamp_tolerance_s", timestamp_tolerance_s) < 0:
            raise ValidationError("timestamp_tolerance_s", "must be >= 0")
        self.timestamp_tolerance_s = float(timestamp_tolerance_s)
        self.clock = clock
        self.baseline_interval_s = float(baseline_interval_s)
        self.auto_resolve_after = auto_resolve_after
        self.flush_interval_s = flush_interval_s
        self._lock = threading.RLock()
        self._detectors: dict[str, MetricDetector] = {}
        self.version = 0  # changes whenever a detector is created or destroyed
        self._rules: dict[str, Rule] = {}
        self._points = 0
        self._detect_us = 0.0
        table = AnomalyTable(store) if store is not None else None
        # Detectors' learnt state: saved on shutdown and every baseline_interval_s,
        # restored when the same detector is created again (e.g. after a restart).
        self._states = DetectorStates(store) if store is not None else None
        self._saved_at: dict[str, float] = {}
        self._incidents = Incidents(self._lock, table, flush_interval_s)
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    # -- detectors and rules -------------------------------------------------------------
    def create_detector(
        self,
        metric: str | None = None,
        method: str = "ensemble",
        sensitivity: float | None = None,
        *,
        metrics: Sequence[str] | None = None,
        service_name: str | None = None,
        **options: Any,
    ) -> MetricDetector:
        """A detector on ``metric`` (default method: the NAB-tuned ``ensemble``).

        ``options`` go to the method (``window``, ``alpha``...);
        ``paired_with`` names the other metric of a ``correlation`` detector;
        ``service_name`` (the deployment or function the metric belongs to) is copied
        into its anomalies. ``metrics=[...]`` with ``method="pca"`` or ``"mset"`` makes
        one detector over several metrics (``metric`` then names it; default: the
        metrics joined by commas); feed it ``detect(d, {metric: value, ...})``."""
        if method in MULTIVARIATE or metrics is not None:
            names = check_metrics(metrics, method)
            if metric is None:
                metric = ",".join(names)
        if not isinstance(metric, str) or not metric:
            raise ValidationError("metric", f"{metric!r} is not allowed; expected a non-empty str")
        check_service(service_name)
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
            service_name=service_name,
        )
        attach_model(handle, level, options, paired_with, names if method in MULTIVARIATE else None)
        if self._states is not None:
            handle.restored = self._states.restore(handle)
        with self._lock:
            self._detectors[handle.id] = handle
            self.version += 1
        return handle

    def get_detector(self, detector: MetricDetector | str) -> MetricDetector:
        key = detector.id if isinstance(detector, MetricDetector) else detector
        with self._lock:
            found = self._detectors.get(key)
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
            self.version += 1
            self._incidents.forget_detector(handle.id)
            self._saved_at.pop(handle.id, None)
            if self._states is not None and not self._states.store.closed:
                self._states.delete(handle.metric, handle.method)

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
        value: float | Mapping[str, float | None],
        timestamp: float | None = None,
        instance_id: str | None = None,
        paired_value: float | None = None,
        service_name: str | None = None,
    ) -> Anomaly | None:
        """Score ``value``; returns the (new or continuing) anomaly, or None when normal.

        ``service_name`` overrides the detector's for this value."""
        handle = self.get_detector(detector)
        service = check_service(service_name) or handle.service_name
        if handle._multi is not None:
            vector = as_vector(handle, value)
            x = math.nan
        else:
            if isinstance(value, Mapping):
                raise ValidationError("value", "a {metric: value} needs metrics=[...] and pca/mset")
            x = check_finite("value", value)
        if timestamp is not None:
            t = ordered_timestamp(handle, timestamp, self.timestamp_tolerance_s)
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
            shares = None
            if handle._multi is not None:
                score, shares = handle._multi.update(vector)
                anomalous = shares is not None
                confidence = math.erf(score / math.sqrt(2.0))
                if anomalous:
                    x, expected = top_contributor(handle, vector, shares)
            elif handle._pair is not None and pair is not None:
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
            self._points += 1
            self._maybe_refresh(handle, t)
            anomaly, event, announced = None, None, None
            if anomalous:
                draft = draft_anomaly(
                    handle.metric,
                    handle.type,
                    x,
                    t,
                    score,
                    confidence,
                    expected,
                    instance_id,
                    handle.id,
                    handle.method,
                )
                draft.service_name = service
                add_details(draft, handle, shares)
                anomaly, event = self._incidents.flag(
                    handle.id,
                    instance_id,
                    draft,
                    lambda level: self._severity_for(handle.metric, handle.type, level),
                )
                handle.anomalies += event == "new"
                if event == "escalated":
                    announced = anomaly.details["escalated_from"]
            else:
                self._incidents.normal(handle.id, instance_id, t, self.auto_resolve_after)
        self._detect_us = (time.perf_counter() - started) * 1e6
        if anomaly is not None and event is not None:
            self._incidents.notify(anomaly, seen_at=announced)
        return anomaly

    # -- anomalies -------------------------------------------------------------------------
    def get_active(self, metric: str | None = None, severity: str | None = None) -> list[Anomaly]:
        """Open anomalies, oldest first; optionally for one metric (glob) and severity and up."""
        return self._incidents.active(metric, severity)

    def get(self, anomaly_id: str) -> Anomaly:
        """An anomaly by id: open, or (with a store) resolved earlier."""
        return self._incidents.get(anomaly_id)

    def history(
        self, metric: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[Anomaly]:
        """Stored anomalies, newest first (needs a store; else the open ones)."""
        table = self._incidents.table
        if table is None:
            return sorted(self.get_active(metric), key=lambda a: -a.detected_at)[:limit]
        return table.history(metric, since, limit)

    def resolve(self, anomaly_id: str, at: float | None = None) -> Anomaly:
        """Close an anomaly (for an already resolved stored one, returns it unchanged)."""
        with self._lock:
            if not self._incidents.is_open(anomaly_id):
                return self._incidents.get(anomaly_id)
            return self._incidents.close(anomaly_id, self.clock() if at is None else at)

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
        service_name: str | None = None,
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
            id=new_anomaly_id(),
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
            service_name=check_service(service_name),
        )
        anomaly.recommendation = recommendation or recommend(anomaly)
        with self._lock:
            self._incidents.add_recorded(anomaly)
        self._incidents.notify(anomaly)
        return anomaly

    # -- callbacks, persistence, baselines, stats -------------------------------------------
    def on_detect(
        self, callback: Callable[[Anomaly], None], severity: str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(anomaly)`` for each new anomaly of ``severity`` or worse (None:
        all). Returns a function that unsubscribes. A failing callback is logged."""
        return self._incidents.subscribe(callback, severity)

    def _maybe_refresh(self, handle: MetricDetector, now: float) -> None:
        if handle.baseline_at is None or now - handle.baseline_at >= self.baseline_interval_s:
            handle.baseline = handle.current_baseline()
            handle.baseline_at = now
        if self._states is not None:
            saved = self._saved_at.setdefault(handle.id, now)
            if now - saved >= self.baseline_interval_s:
                self._save_state(handle, now)

    def _save_state(self, handle: MetricDetector, now: float) -> None:
        assert self._states is not None
        self._saved_at[handle.id] = now
        try:
            self._states.save(handle, now)
        except Exception:  # the store is shared: never fail detection over a snapshot
            log.exception("anomaly: could not save the state of %s", handle.metric)

    def save_states(self) -> int:
        """Write every detector's learnt state to the store now; returns how many."""
        if self._states is None or self._states.store.closed:
            return 0
        now = self.clock()
        with self._lock:
            for handle in self._detectors.values():
                self._save_state(handle, now)
            return len(self._detectors)

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
            counts = self._incidents.counts
            return {
                "detectors": len(self._detectors),
                "rules": len(self._rules),
                "active": self._incidents.count_open(),
                "points_processed": self._points,
                "anomalies_detected": counts["detected"],
                "anomalies_recorded": counts["recorded"],
                "anomalies_resolved": counts["resolved"],
                "anomalies_escalated": counts["escalated"],
                "by_severity": dict(self._incidents.by_severity),
                "methods": sorted({d.method for d in self._detectors.values()}),
                "running": self.is_running(),
                "last_detect_us": round(self._detect_us, 1),
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
        self.save_states()
        with self._lock:
            self._incidents.flush()

    close = shutdown

    def __enter__(self) -> AnomalyRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
