"""The detection methods by name: constructors, default sensitivities and anomaly types.

:func:`build` turns ``create_detector(metric, method, sensitivity, **options)`` into a
detector wrapped in its :class:`ThresholdFilter`, validating everything first so bad
input raises :class:`ValidationError` and creates nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from ._base import Baseline, Detector, ThresholdFilter, check_positive
from ._contextual import Correlation, Pattern, RateChange
from ._ensemble import Ensemble
from ._iforest import IsolationForest
from ._mset import MSET
from ._multivariate import PCA, MultivariateFilter
from ._sensitivity import threshold_for
from ._statistical import IQR, MAD, MovingAverage, Threshold, ZScore

__all__ = [
    "METHODS",
    "Method",
    "MetricDetector",
    "attach_model",
    "build_filter",
    "build_multivariate",
    "build_pair",
    "method_info",
]


@dataclass(frozen=True)
class Method:
    """A detection method: its class, default sensitivity and the anomaly type it finds."""

    cls: Callable[..., Any]
    default_sensitivity: float | None
    anomaly_type: str
    meaning: str
    unit: str = "sigma"  # how a score reads in a recommendation ("" = no unit)


METHODS: Mapping[str, Method] = {
    "zscore": Method(ZScore, 3.0, "statistical", "k standard deviations from the mean"),
    "iqr": Method(
        IQR, 2.698, "statistical", "(k - 0.6745) / 1.349 IQRs beyond the quartile", "IQR"
    ),
    "mad": Method(MAD, 3.5, "statistical", "k x 1.4826 MAD from the median"),
    "moving_average": Method(
        MovingAverage, 3.0, "statistical", "k deviations of the EWMA forecast error"
    ),
    "isolation_forest": Method(
        IsolationForest, 3.0, "statistical", "calibrated on normal noise (see _sensitivity)", ""
    ),
    "ensemble": Method(
        Ensemble,
        3.0,
        "statistical",
        "calibrated on normal noise (see _sensitivity)",
        "",
    ),
    "threshold": Method(Threshold, None, "threshold", "the upper limit itself"),
    "rate_change": Method(RateChange, 4.0, "rate_change", "k robust deviations of the change"),
    "pattern": Method(Pattern, 3.0, "pattern", "k deviations from the same hour's usual value"),
    "correlation": Method(
        Correlation, 3.0, "correlation", "k residual deviations from the fitted relation"
    ),
    # Several metrics at once (create_detector(metrics=[...])). Default 4.0: the model
    # is estimated from a few hundred autocorrelated vectors, so its Gaussian tails are
    # optimistic; 4.0 was best on the tuning half of SKAB valve1 (BENCHMARKS.md).
    "pca": Method(PCA, 4.0, "correlation", "T-squared and Q of a PCA model, as deviations"),
    "mset": Method(MSET, 4.0, "correlation", "Mahalanobis distance of the MSET residual"),
}

#: the methods that take ``metrics=[...]`` and a ``{metric: value}`` per step
MULTIVARIATE = ("pca", "mset")


def method_info(method: object) -> Method:
    if not isinstance(method, str) or method not in METHODS:
        raise ValidationError.choice("method", method, sorted(METHODS))
    return METHODS[method]


def _check_options(cls: Callable[..., Any], options: Mapping[str, Any], skip: set[str]) -> None:
    accepted = [name for name in inspect.signature(cls).parameters if name not in skip]
    for key in options:
        if key not in accepted:
            allowed = ", ".join(accepted) or "none"
            raise ValidationError(key, f"unknown option for this method; accepted: {allowed}")


def _construct(cls: Callable[..., Any], options: Mapping[str, Any]) -> Any:
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError("options", str(exc)) from None


def resolve_sensitivity(method: str, sensitivity: object, options: Mapping[str, Any]) -> float:
    info = method_info(method)
    if sensitivity is None:
        if info.default_sensitivity is None:
            if "upper" in options or "lower" in options:
                return 0.0  # threshold with explicit limits: any excess is anomalous
            raise ValidationError("sensitivity", "the threshold method needs a limit, e.g. 0.05")
        return info.default_sensitivity
    if method == "threshold":
        return check_positive("sensitivity", sensitivity)
    threshold_for(method, sensitivity)  # refuses what the method cannot use, with its range
    return check_positive("sensitivity", sensitivity)


def build_filter(
    method: str, sensitivity: float, options: Mapping[str, Any]
) -> tuple[ThresholdFilter, float]:
    """The detector for ``method`` in its filter; returns (filter, the filter's threshold)."""
    info = method_info(method)
    if method == "threshold":
        _check_options(Threshold, options, set())
        limits = dict(options)
        if sensitivity and "upper" not in limits:
            limits["upper"] = sensitivity
        detector: Detector = _construct(Threshold, limits)
        return ThresholdFilter(detector, 0.0, protect=False), 0.0
    _check_options(info.cls, options, set())
    detector = _construct(info.cls, options)
    threshold = threshold_for(method, sensitivity)
    return ThresholdFilter(detector, threshold, protect=detector.protect), threshold


def build_multivariate(
    method: str, metrics: list[str], sensitivity: float, options: Mapping[str, Any]
) -> MultivariateFilter:
    """A multivariate detector for ``metrics`` in its filter (options checked first)."""
    info = method_info(method)
    options = dict(options)
    max_protected = options.pop("max_protected", 3600)
    if isinstance(max_protected, bool) or not isinstance(max_protected, int) or max_protected < 0:
        raise ValidationError("max_protected", f"{max_protected!r} is out of range; expected >= 0")
    accepted = [p for p in inspect.signature(info.cls).parameters if p not in ("n_metrics",)]
    accepted += ["train", "smoothing", "adapt", "refit_every", "max_protected"]
    for key in options:
        if key not in accepted:
            allowed = ", ".join(sorted(set(accepted) - {"options"}))
            raise ValidationError(key, f"unknown option for this method; accepted: {allowed}")
    detector = _construct(info.cls, {"n_metrics": len(metrics), **options})
    return MultivariateFilter(detector, threshold_for(method, sensitivity), max_protected)


def build_pair(options: Mapping[str, Any]) -> Correlation:
    _check_options(Correlation, options, set())
    built: Correlation = _construct(Correlation, options)
    return built


def attach_model(
    handle: MetricDetector,
    level: float,
    options: Mapping[str, Any],
    paired_with: object,
    metrics: list[str] | None,
) -> None:
    """Give ``handle`` the model its method needs: a vector detector over ``metrics``, a
    pair model (``paired_with`` names the other metric) or a single-metric filter."""
    method = handle.method
    if method != "correlation" and paired_with is not None:
        raise ValidationError("paired_with", "only the correlation method takes it")
    if method in MULTIVARIATE:
        assert metrics is not None
        handle.metrics = metrics
        handle._multi = build_multivariate(method, metrics, level, options)
    elif method == "correlation":
        if not isinstance(paired_with, str) or not paired_with:
            raise ValidationError("paired_with", "correlation needs the other metric's name")
        handle.options["paired_with"] = paired_with
        handle._pair = build_pair(options)
    else:
        handle._filter, _ = build_filter(method, level, options)


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
    service_name: str | None = None  # the deployment or function the metric belongs to
    metrics: list[str] | None = None  # a multivariate detector's metrics, in vector order
    baseline: Baseline | None = None  # refreshed every baseline_interval_s
    baseline_at: float | None = None
    last_timestamp: float | None = None
    last_score: float = 0.0
    points: int = 0
    anomalies: int = 0
    _filter: ThresholdFilter | None = field(default=None, repr=False)
    _pair: Correlation | None = field(default=None, repr=False)
    _multi: MultivariateFilter | None = field(default=None, repr=False)
    restored: bool = False  # whether its learnt state came back from the store

    def current_baseline(self, paired_value: float | None = None) -> Baseline | None:
        """The live baseline (the snapshot in :attr:`baseline` lags by up to the interval)."""
        if self._filter is not None:
            return self._filter.detector.baseline(self.sensitivity)
        if self._pair is not None and paired_value is not None:
            return self._pair.baseline(self.sensitivity, paired_value)
        return None
