"""The seed's module-level API over one registry, and the telemetry hook.

``anomaly.create_detector(...)``, ``anomaly.detect(...)`` and the rest act on the registry
of the process's default platform (:func:`constellation.platform.default_platform`,
looked up on each call and made on first use): the registry stored in its home, fed by
its functions' metrics, so a script sees the same anomalies as the server of that home.
:func:`set_registry` installs another registry in its place (tests, embedding); None
goes back to the default platform's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
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

_installed: AnomalyRegistry | None = None
_installed_lock = threading.Lock()


def get_registry() -> AnomalyRegistry:
    """The registry the module functions act on: one installed with :func:`set_registry`,
    else the default platform's (which this makes on first use)."""
    with _installed_lock:
        if _installed is not None:
            return _installed
    from ..defaults import default_platform

    return default_platform().anomaly


def _current_registry() -> AnomalyRegistry | None:
    """Like :func:`get_registry`, but None where that would make a platform."""
    with _installed_lock:
        if _installed is not None:
            return _installed
    from ..defaults import current_default_platform

    platform = current_default_platform()
    return platform.anomaly if platform is not None else None


def set_registry(registry: AnomalyRegistry | None) -> AnomalyRegistry | None:
    """Install ``registry`` for the module functions (None: the default platform's again);
    returns the one installed before (None when that was the default platform's)."""
    global _installed
    with _installed_lock:
        previous, _installed = _installed, registry
    return previous


def create_detector(
    metric: str | None = None,
    method: str = "ensemble",
    sensitivity: float | None = None,
    **options: Any,
) -> MetricDetector:
    """A detector on ``metric`` (``method`` and ``sensitivity`` positional as in the seed;
    ``service_name=`` names the deployment or function the metric belongs to;
    ``metrics=[...]`` with ``method="pca"`` or ``"mset"`` watches several metrics at once)."""
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
    value: float | Mapping[str, float | None],
    timestamp: float | None = None,
    instance_id: str | None = None,
    paired_value: float | None = None,
    service_name: str | None = None,
) -> Anomaly | None:
    """Score one value; the (new or continuing) anomaly, or None when normal."""
    return get_registry().detect(
        detector, value, timestamp, instance_id, paired_value, service_name
    )


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
    """Whether the registry's loop runs (makes no platform to answer)."""
    registry = _current_registry()
    return registry is not None and registry.is_running()


def shutdown() -> None:
    """Stop the registry's loop and flush its open anomalies. An installed registry is
    uninstalled too; the default platform's stays its platform's (``init`` restarts it)."""
    registry = set_registry(None) or _current_registry()
    if registry is not None:
        registry.shutdown()
