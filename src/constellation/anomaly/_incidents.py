"""The open anomalies ("incidents"): open or continue, auto-resolve, record, notify.

One incident per (detector, instance): while a detector keeps flagging, the same
:class:`Anomaly` is updated (peak value, points, duration) instead of creating a new
record per value; ``auto_resolve_after`` normal values in a row close it. Callbacks
run for new anomalies, and again for an anomaly whose severity rises (escalation) for
the callbacks whose floor it newly reaches; always outside the lock. Writes go through an optional
:class:`AnomalyTable`, at most once per ``flush_interval_s`` for a continuing one.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import uuid
from collections.abc import Callable

from ..errors import NotFoundError, ValidationError
from ._base import Baseline
from ._persist import AnomalyTable
from ._records import SEVERITIES, Anomaly, check_severity, recommend, severity_rank

__all__ = ["Incidents", "new_anomaly_id"]

log = logging.getLogger("constellation.anomaly")

Callback = Callable[[Anomaly], None]


def new_anomaly_id() -> str:
    return f"an-{uuid.uuid4().hex[:12]}"


class Incidents:
    """Open anomalies keyed by id and by (detector id, instance id). Thread safe."""

    def __init__(
        self, lock: threading.RLock, table: AnomalyTable | None, flush_interval_s: float
    ) -> None:
        self._lock = lock
        self.table = table
        self.flush_interval_s = flush_interval_s
        self._active: dict[str, Anomaly] = {}
        self._open: dict[tuple[str, str | None], str] = {}
        self._normal_run: dict[str, int] = {}
        self._flushed_at: dict[str, float] = {}
        self._callbacks: list[tuple[Callback, int]] = []
        self.counts = {"detected": 0, "resolved": 0, "recorded": 0, "escalated": 0}
        self.by_severity = dict.fromkeys(SEVERITIES, 0)
        if table is not None:  # anomalies still open when the platform stopped
            for anomaly in table.open_anomalies():
                self._active[anomaly.id] = anomaly

    # -- called by the registry with its lock held ------------------------------------------
    def flag(
        self,
        detector_id: str,
        instance_id: str | None,
        draft: Anomaly,
        severity_for: Callable[[float], str],
    ) -> tuple[Anomaly, str | None]:
        """Open ``draft`` as a new anomaly, or fold it into the detector's open one.

        Returns (anomaly, event): event ``"new"``, ``"escalated"`` (a continuing anomaly
        whose peak reached a more severe rule; ``details["escalated_from"]`` holds the
        severity before) or None. ``severity_for(score)`` applies the rules.
        """
        key = (detector_id, instance_id)
        existing = self._active.get(self._open.get(key, ""))
        if existing is not None:
            existing.last_seen_at = draft.last_seen_at
            existing.points += 1
            self._normal_run[existing.id] = 0
            event = None
            if draft.score > existing.score:  # keep the incident's peak
                existing.score, existing.detected_value = draft.score, draft.detected_value
                existing.confidence = max(existing.confidence, draft.confidence)
                if draft.contributors:  # a multivariate anomaly: who moved at the peak
                    existing.contributors = draft.contributors
                    existing.details["shares"] = draft.details.get("shares", "")
                    existing.expected_value = draft.expected_value
                severity = severity_for(draft.score)
                if severity_rank(severity) > severity_rank(existing.severity):
                    existing.details["escalated_from"] = existing.severity
                    existing.severity = severity
                    self.counts["escalated"] += 1
                    self.by_severity[severity] += 1
                    event = "escalated"
            existing.recommendation = recommend(existing)
            self._persist(existing, force=event is not None)
            return existing, event
        draft.severity = severity_for(draft.score)
        draft.recommendation = recommend(draft)
        self._active[draft.id] = draft
        self._open[key] = draft.id
        self._normal_run[draft.id] = 0
        self.counts["detected"] += 1
        self.by_severity[draft.severity] += 1
        self._persist(draft, force=True)
        return draft, "new"

    def normal(
        self, detector_id: str, instance_id: str | None, t: float, auto_resolve_after: int
    ) -> None:
        """A normal value: count it towards auto-resolving the detector's open anomaly."""
        anomaly_id = self._open.get((detector_id, instance_id))
        if anomaly_id is None:
            return
        run = self._normal_run.get(anomaly_id, 0) + 1
        self._normal_run[anomaly_id] = run
        if run >= auto_resolve_after:
            self.close(anomaly_id, t)

    def close(self, anomaly_id: str, t: float) -> Anomaly:
        anomaly = self._active.pop(anomaly_id)
        anomaly.resolved_at = max(t, anomaly.last_seen_at)
        anomaly.recommendation = recommend(anomaly)
        for key in [k for k, v in self._open.items() if v == anomaly_id]:
            del self._open[key]
        self._normal_run.pop(anomaly_id, None)
        self.counts["resolved"] += 1
        self._persist(anomaly, force=True)
        self._flushed_at.pop(anomaly_id, None)
        return anomaly

    def forget_detector(self, detector_id: str) -> None:
        """A destroyed detector: its open anomalies stay, but nothing continues them."""
        for key in [k for k in self._open if k[0] == detector_id]:
            del self._open[key]

    def add_recorded(self, anomaly: Anomaly) -> None:
        self._active[anomaly.id] = anomaly
        self.counts["recorded"] += 1
        self.by_severity[anomaly.severity] += 1
        self._persist(anomaly, force=True)

    def _persist(self, anomaly: Anomaly, force: bool) -> None:
        if self.table is None:
            return
        last = self._flushed_at.get(anomaly.id)
        if force or last is None or anomaly.last_seen_at - last >= self.flush_interval_s:
            self.table.save(anomaly)
            self._flushed_at[anomaly.id] = anomaly.last_seen_at

    def flush(self) -> None:
        if self.table is not None and not self.table.store.closed:
            for anomaly in self._active.values():
                self.table.save(anomaly)

    # -- queries and callbacks (take the lock themselves) ----------------------------------
    def active(self, metric: str | None = None, severity: str | None = None) -> list[Anomaly]:
        floor = 0 if severity is None else severity_rank(check_severity(severity))
        with self._lock:
            found = [
                a
                for a in self._active.values()
                if (metric is None or fnmatch.fnmatchcase(a.metric_name, metric))
                and severity_rank(a.severity) >= floor
            ]
        return sorted(found, key=lambda a: a.detected_at)

    def is_open(self, anomaly_id: str) -> bool:
        with self._lock:
            return anomaly_id in self._active

    def count_open(self) -> int:
        with self._lock:
            return len(self._active)

    def get(self, anomaly_id: str) -> Anomaly:
        with self._lock:
            found = self._active.get(anomaly_id)
        if found is None and self.table is not None:
            found = self.table.get(anomaly_id)
        if found is None:
            raise NotFoundError("anomaly", anomaly_id)
        return found

    def subscribe(self, callback: Callback, severity: str | None) -> Callable[[], None]:
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

    def notify(self, anomaly: Anomaly, seen_at: str | None = None) -> None:
        """Run the callbacks for a new anomaly (call without the lock held).

        For an escalated one, ``seen_at`` is the severity it was announced at before:
        only the callbacks that did not get it then run, so each callback hears of an
        anomaly once, at the first severity that reaches its floor.
        """
        with self._lock:
            callbacks = list(self._callbacks)
        rank = severity_rank(anomaly.severity)
        already = -1 if seen_at is None else severity_rank(seen_at)
        for callback, floor in callbacks:
            if already < floor <= rank or (seen_at is None and floor <= rank):
                try:
                    callback(anomaly)
                except Exception:
                    log.exception("on_detect callback %r failed for %s", callback, anomaly.id)


def draft_anomaly(
    metric: str,
    anomaly_type: str,
    value: float,
    t: float,
    score: float,
    confidence: float,
    expected: Baseline | None,
    instance_id: str | None,
    detector_id: str,
    method: str,
) -> Anomaly:
    """A new anomaly before rules and recommendation are applied."""
    return Anomaly(
        id=new_anomaly_id(),
        metric_name=metric,
        type=anomaly_type,
        detected_value=value,
        expected_value=None if expected is None else expected.expected,
        expected_low=None if expected is None else expected.lower,
        expected_high=None if expected is None else expected.upper,
        confidence=round(confidence, 6),
        severity="warning",
        recommendation="",
        instance_id=instance_id,
        detected_at=t,
        last_seen_at=t,
        score=score,
        detector_id=detector_id,
        method=method,
    )
