"""Input checks and shaping for the registry: metric lists, ``{metric: value}`` vectors,
service names, and what a multivariate anomaly reports (its leading metrics)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ValidationError
from ._base import Baseline, check_finite
from ._methods import MULTIVARIATE, MetricDetector

__all__ = ["as_vector", "check_metrics", "check_service", "leading", "top_contributor"]


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
