"""Anomaly records, severities, rules and the rule-based recommendation text."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

from ..errors import ValidationError
from ._base import check_finite

__all__ = [
    "ANOMALY_TYPES",
    "SEVERITIES",
    "Anomaly",
    "Rule",
    "check_severity",
    "check_type",
    "recommend",
    "severity_rank",
]

SEVERITIES = ("info", "warning", "critical")
ANOMALY_TYPES = ("statistical", "threshold", "rate_change", "pattern", "correlation")


def check_severity(value: object) -> str:
    if value not in SEVERITIES:
        raise ValidationError.choice("severity", value, SEVERITIES)
    return str(value)


def check_type(value: object) -> str:
    if value not in ANOMALY_TYPES:
        raise ValidationError.choice("type", value, ANOMALY_TYPES)
    return str(value)


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass
class Anomaly:
    """One anomaly: created when a detector first flags, updated while it continues.

    ``confidence`` is 0-1 (from the detector's score), ``score`` the peak score in the
    detector's sensitivity unit, ``points`` how many flagged values it covers. An
    anomaly is truthy, so ``if anomaly.detect(d, v):`` reads naturally.
    """

    id: str
    metric_name: str
    type: str
    detected_value: float
    expected_value: float | None
    expected_low: float | None
    expected_high: float | None
    confidence: float
    severity: str
    recommendation: str
    instance_id: str | None
    detected_at: float
    last_seen_at: float
    resolved_at: float | None = None
    score: float = 0.0
    points: int = 1
    detector_id: str | None = None
    method: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    #: the deployment or function the metric belongs to (for ``restart_service``)
    service_name: str | None = None
    #: a multivariate anomaly's metrics that contributed most, largest share first
    #: (``details["shares"]`` has each one's share of the score)
    contributors: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.resolved_at is None

    @property
    def expected_range(self) -> tuple[float, float] | None:
        if self.expected_low is None or self.expected_high is None:
            return None
        return (self.expected_low, self.expected_high)

    @property
    def duration_s(self) -> float:
        """How long the anomalous values lasted (first to last flagged value)."""
        return max(0.0, self.last_seen_at - self.detected_at)


@dataclass(frozen=True)
class Rule:
    """Severity for anomalies on metrics matching ``pattern`` (a glob) with score >= threshold."""

    name: str
    pattern: str
    threshold: float
    severity: str
    type: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("name", f"{self.name!r} is not allowed; expected a non-empty str")
        if not isinstance(self.pattern, str) or not self.pattern:
            raise ValidationError(
                "pattern", f"{self.pattern!r} is not allowed; expected a glob such as 'api_*'"
            )
        if check_finite("threshold", self.threshold) < 0:
            raise ValidationError("threshold", f"{self.threshold!r} is out of range; expected >= 0")
        check_severity(self.severity)
        if self.type is not None:
            check_type(self.type)

    def applies_to(self, metric: str, anomaly_type: str) -> bool:
        if self.type is not None and self.type != anomaly_type:
            return False
        return fnmatch.fnmatchcase(metric, self.pattern)


_ACTIONS: list[tuple[tuple[str, ...], str, str]] = [
    # (metric keywords, action when above, action when below)
    (
        ("latency", "duration", "response_time", "p95", "p99"),
        "check its logs and slow dependencies; consider scaling out",
        "check that requests still reach it (a fast failure looks like low latency)",
    ),
    (
        ("error", "fail", "5xx"),
        "check its logs and the latest deploy; consider rolling back",
        "no action needed",
    ),
    (
        ("cpu",),
        "consider scaling out or profiling its hot path",
        "check that it still receives work",
    ),
    (
        ("mem", "rss", "heap"),
        "look for a leak; consider a higher memory limit or a restart",
        "check that it did not restart unexpectedly",
    ),
    (("disk", "volume", "storage"), "free space or grow the volume", "no action needed"),
    (("queue", "backlog", "lag"), "add consumers or instances", "check the producers"),
    (
        ("request", "rps", "traffic", "invocation", "throughput"),
        "load is rising: consider scaling out (or enable predictive scaling)",
        "check upstream routing and health checks",
    ),
    (("temp",), "check cooling and throttling", "check the sensor"),
]


def _action(metric: str, above: bool) -> str:
    name = metric.lower()
    for keywords, up, down in _ACTIONS:
        if any(k in name for k in keywords):
            return up if above else down
    return "check its logs and recent changes"


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "?"
    return f"{value:.4g}"


def recommend(anomaly: Anomaly) -> str:
    """A concrete, rule-based recommendation from the anomaly's type, metric and size."""
    metric = anomaly.metric_name
    expected = anomaly.expected_value
    above = expected is None or anomaly.detected_value >= expected
    side = "above" if above else "below"
    kind = anomaly.type
    if anomaly.contributors:
        top = anomaly.contributors[0]
        what = (
            f"{metric}: {', '.join(anomaly.contributors)} left their usual joint behaviour "
            f"({anomaly.score:.1f} sigma; {top} at {_fmt(anomaly.detected_value)} "
            f"where {_fmt(expected)} was expected)"
        )
        metric = top  # the action is for the metric that moved most
    elif kind == "threshold":
        limit = anomaly.expected_high if above else anomaly.expected_low
        what = f"{metric} at {_fmt(anomaly.detected_value)} is {side} its limit {_fmt(limit)}"
    elif kind == "rate_change":
        verb = "jumped" if above else "dropped"
        what = (
            f"{metric} {verb} to {_fmt(anomaly.detected_value)} "
            f"({anomaly.score:.1f} sigma of its usual change)"
        )
    elif kind == "pattern":
        what = (
            f"{metric} at {_fmt(anomaly.detected_value)} is unusual for this time "
            f"(usually {_fmt(expected)})"
        )
    elif kind == "correlation":
        other = anomaly.details.get("paired_with", "its paired metric")
        what = (
            f"{metric} no longer follows {other}: {_fmt(anomaly.detected_value)} "
            f"where {_fmt(expected)} was expected"
        )
    else:
        unit = anomaly.details.get("unit", "sigma")
        size = f"{anomaly.score:.1f} {unit}" if unit else "unusually far"
        what = (
            f"{metric} {size} {side} its baseline "
            f"({_fmt(anomaly.detected_value)} vs {_fmt(expected)})"
        )
    minutes = anomaly.duration_s / 60
    if minutes >= 1:
        what += f" for {minutes:.0f} min"
    if anomaly.instance_id:
        what += f" on instance {anomaly.instance_id}"
    if anomaly.service_name:
        what += f" of {anomaly.service_name}"
    return f"{what}: {_action(metric, above)}"
