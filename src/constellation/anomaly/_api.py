"""The seed's module-level API over a default registry, and the telemetry hook.

``anomaly.create_detector(...)``, ``anomaly.detect(...)`` and the rest act on a default
:class:`AnomalyRegistry` created on first use (in memory, wall clock). The platform
installs its own with :func:`set_registry` (built with its store and clock) and feeds it
from its telemetry with :func:`watch_telemetry`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ._records import Anomaly, Rule
from ._registry import AnomalyRegistry, MetricDetector

__all__ = [
    "create_detector",
    "create_rule",
    "destroy_detector",
    "detect",
    "get_active",
    "get_registry",
    "get_stats",
    "init",
    "is_running",
    "on_detect",
    "record",
    "resolve",
    "set_registry",
    "shutdown",
]

log = logging.getLogger("constellation.anomaly")

_default: AnomalyRegistry | None = None
_default_lock = threading.Lock()


def get_registry() -> AnomalyRegistry:
    """The default registry (created on first use: in memory, wall clock)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AnomalyRegistry()
        return _default


def set_registry(registry: AnomalyRegistry | None) -> AnomalyRegistry | None:
    """Install ``registry`` as the default (None: a fresh one on next use); returns the old."""
    global _default
    with _default_lock:
        previous, _default = _default, registry
    return previous


def create_detector(
    metric: str, method: str = "ensemble", sensitivity: float | None = None, **options: Any
) -> MetricDetector:
    """A detector on ``metric`` (``method`` and ``sensitivity`` positional as in the seed)."""
    return get_registry().create_detector(metric, method, sensitivity, **options)


def create_rule(
    name: str,
    pattern: str,
    threshold: float = 0.0,
    severity: str = "warning",
    type: str | None = None,
) -> Rule:
    """Severity ``severity`` for anomalies on metrics matching the glob ``pattern``."""
    return get_registry().create_rule(name, pattern, threshold, severity, type)


def detect(
    detector: MetricDetector | str,
    value: float,
    timestamp: float | None = None,
    instance_id: str | None = None,
    paired_value: float | None = None,
) -> Anomaly | None:
    """Score one value; the (new or continuing) anomaly, or None when normal."""
    return get_registry().detect(detector, value, timestamp, instance_id, paired_value)


def get_active(metric: str | None = None, severity: str | None = None) -> list[Anomaly]:
    """The open anomalies, oldest first (optionally one metric glob, a severity floor)."""
    return get_registry().get_active(metric, severity)


def resolve(anomaly_id: str) -> Anomaly:
    """Close an anomaly by id."""
    return get_registry().resolve(anomaly_id)


def record(
    metric_name: str,
    detected_value: float,
    expected_value: float | None = None,
    severity: str = "warning",
    type: str = "statistical",
    instance_id: str | None = None,
    **extra: Any,
) -> Anomaly:
    """Record an anomaly found elsewhere (a health check, a log scan)."""
    return get_registry().record(
        metric_name, detected_value, expected_value, severity, type, instance_id, **extra
    )


def get_stats() -> dict[str, Any]:
    """Counts of detectors, rules, points and anomalies of the default registry."""
    return get_registry().get_stats()


def on_detect(
    callback: Callable[[Anomaly], None], severity: str | None = None
) -> Callable[[], None]:
    """Call ``callback(anomaly)`` for new anomalies at or above ``severity``."""
    return get_registry().on_detect(callback, severity)


def destroy_detector(detector: MetricDetector | str) -> None:
    """Forget a detector (its open anomalies stay until resolved)."""
    get_registry().destroy_detector(detector)


def init() -> None:
    """Start the default registry's baseline refresh loop (optional)."""
    get_registry().init()


def is_running() -> bool:
    """Whether the default registry's loop runs."""
    return get_registry().is_running()


def shutdown() -> None:
    """Stop the default registry's loop (a later call starts a fresh default registry)."""
    registry = set_registry(None)
    if registry is not None:
        registry.shutdown()
