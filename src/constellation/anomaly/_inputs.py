"""Input checks and shaping for the registry: metric lists, ``{metric: value}`` vectors,
service names, and what a multivariate anomaly reports (its leading metrics)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ValidationError
from ._base import Baseline, check_finite
from ._methods import MULTIVARIATE, MetricDetector, method_info
from ._records import Anomaly

__all__ = [
    "add_details",
    "as_vector",
    "check_metrics",
    "check_service",
    "leading",
    "ordered_timestamp",
    "top_contributor",
]


def check_metrics(metrics: object, method: str) -> list[str]:
    if method not in MULTIVARIATE:
        raise ValidationError(
            "metrics", f"only the multivariate methods take it: {', '.join(MULTIVARIATE)}"
        )
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise ValidationError("metrics", f"{metrics!r} is not a list of metric names")
    names = list(metrics)
    if len(names) < 2 or any(not isinstance(n, str) or not n for n in names):
        raise ValidationError("metrics", "expected two or more non-empty metric names")
    if len(set(names)) != len(names):
        raise ValidationError("metrics", "a metric is named twice")
    return names


def as_vector(handle: MetricDetector, value: object) -> list[float]:
    """A ``{metric: value}`` as the detector's vector; missing or None or NaN -> NaN."""
    names = handle.metrics or []
    if not isinstance(value, Mapping):
        raise ValidationError("value", f"expected {{metric: value}} for {', '.join(names)}")
    unknown = [k for k in value if k not in names]
    if unknown:
        raise ValidationError(
            "value", f"unknown metric {unknown[0]!r}; expected: {', '.join(names)}"
        )
    vector = []
    for name in names:
        x = value.get(name)
        if x is None or (isinstance(x, float) and math.isnan(x)):
            vector.append(math.nan)
        else:
            vector.append(check_finite(f"value[{name!r}]", x))
    return vector


def check_service(name: object) -> str | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise ValidationError("service_name", f"{name!r} is not allowed; expected a non-empty str")
    return name


def leading(ranked: list[tuple[float, str]]) -> list[str]:
    """The metrics that together make most (80 %) of the score, at most three."""
    names: list[str] = []
    total = 0.0
    for share, name in ranked[:3]:
        names.append(name)
        total += share
        if total >= 0.8:
            break
    return names


def top_contributor(
    handle: MetricDetector, vector: list[float], shares: Any
) -> tuple[float, Baseline | None]:
    """The value and the model's expectation of the metric that contributed most."""
    assert handle._multi is not None
    top = int(shares.argmax())
    expected = handle._multi.detector.expected()
    value = vector[top]
    if math.isnan(value):
        value = float(expected[top])
    centre = float(expected[top])
    return value, Baseline(centre, centre, centre)


def ordered_timestamp(handle: MetricDetector, timestamp: object, tolerance_s: float) -> float:
    """``timestamp`` checked, and never before the detector's last point: a repeated one
    (two instances in one second) or one a little late (several producers) is taken in
    arrival order at the last point's time, so seasonal detectors see time move forwards
    only; one more than ``tolerance_s`` late is refused."""
    t = check_finite("timestamp", timestamp)
    last = handle.last_timestamp
    if last is None or t >= last:
        return t
    if last - t > tolerance_s:
        raise ValidationError(
            "timestamp",
            f"{t!r} is {last - t:g} s before the last point ({last!r}); "
            f"expected at most timestamp_tolerance_s={tolerance_s:g} s",
        )
    return last


def add_details(draft: Anomaly, handle: MetricDetector, shares: Any) -> None:
    """What an anomaly of ``handle`` reports beside its value: the method's unit, and the
    leading metrics and their shares (multivariate) or the paired metric (correlation)."""
    draft.details["unit"] = method_info(handle.method).unit
    if shares is not None and handle.metrics:
        ranked = sorted(zip(shares.tolist(), handle.metrics, strict=True), reverse=True)
        draft.contributors = leading(ranked)
        draft.details["shares"] = ", ".join(
            f"{name} {share:.0%}" for share, name in ranked if share >= 0.005
        )
    if handle._pair is not None:
        draft.details["paired_with"] = str(handle.options["paired_with"])
