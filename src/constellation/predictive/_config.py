"""Predictor settings, validated when built, with exact messages.

``PredictorConfig(metric_name="cpu", model="ensemble", training_window=3600, ...)``
or ``PredictorConfig.from_value({...})`` (the seed passes a dict). A bad value raises
:class:`~constellation.predictive.PredictiveValidationError` naming the field and
what is allowed; an unknown key lists the known ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from ._ensemble import ALIASES, MODELS
from ._errors import PredictiveValidationError, check_model

__all__ = ["INVALID_POLICIES", "PredictorConfig"]

INVALID_POLICIES = ("reject", "skip")


def _number(name: str, value: object, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PredictiveValidationError(name, f"{value!r} is not a finite number")
    below = value <= low if low_open else value < low
    if below or value > high:
        bracket = "(" if low_open else "["
        raise PredictiveValidationError(
            name, f"{value!r} is out of range; expected {bracket}{low:g}, {high:g}]"
        )
    return float(value)


@dataclasses.dataclass(frozen=True)
class PredictorConfig:
    """Everything a predictor needs; times are in seconds."""

    metric_name: str
    #: one of MODELS (or a seed alias such as "exponential"); "ensemble" combines models
    model: str = "ensemble"
    #: history used to train, in seconds before the newest sample (0: all buffered)
    training_window: float = 3600.0
    #: the seed's threshold: ``Prediction.is_confident`` compares ``confidence`` with it
    confidence_threshold: float = 0.8
    #: interval level of lower_bound/upper_bound
    level: float = 0.95
    #: ring-buffer capacity (oldest samples drop out)
    max_samples: int = 10_000
    #: fewest samples ``train()`` accepts
    min_samples: int = 10
    #: NaN/inf/too-large samples: "reject" (raise) or "skip" (count and drop)
    invalid: str = "reject"
    #: extra seasonal periods to test, in seconds (hourly/daily/weekly are always tried)
    periods: tuple[float, ...] = ()
    #: backtest horizon in seconds (None: one cycle of the longest period, or 12 steps)
    backtest_horizon: float | None = None
    #: rolling-origin backtest windows used for weights and interval calibration
    backtest_origins: int = 4
    #: ``confidence`` = estimated P(|actual - value| <= tolerance * |value|)
    confidence_tolerance: float = 0.1
    #: the background loop retrains this often (seconds) ...
    retrain_interval: float = 300.0
    #: ... or sooner when tracked interval coverage falls below this (0 disables)
    retrain_coverage_below: float = 0.8
    #: actuals kept for get_accuracy()
    accuracy_window: int = 200

    def __post_init__(self) -> None:
        if not isinstance(self.metric_name, str) or not self.metric_name.strip():
            raise PredictiveValidationError(
                "metric_name", f"{self.metric_name!r} is not allowed; expected a non-empty string"
            )
        model = check_model(self.model, MODELS + tuple(ALIASES))
        object.__setattr__(self, "model", ALIASES.get(model, model))
        _number("training_window", self.training_window, 0, 1e12)
        _number("confidence_threshold", self.confidence_threshold, 0, 1)
        _number("level", self.level, 0, 1, low_open=True)
        if self.level >= 1:
            raise PredictiveValidationError(
                "level", f"{self.level!r} is out of range; expected (0, 1)"
            )
        for name, low in (("max_samples", 10), ("min_samples", 3), ("accuracy_window", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise PredictiveValidationError(
                    name, f"{value!r} is out of range; expected an integer >= {low}"
                )
        if self.min_samples > self.max_samples:
            raise PredictiveValidationError(
                "min_samples", f"{self.min_samples} exceeds max_samples ({self.max_samples})"
            )
        if self.invalid not in INVALID_POLICIES:
            raise PredictiveValidationError(
                "invalid", f"{self.invalid!r} is not allowed; expected one of 'reject', 'skip'"
            )
        periods = tuple(self.periods)
        for p in periods:
            _number("periods", p, 0, 1e12, low_open=True)
        object.__setattr__(self, "periods", tuple(float(p) for p in periods))
        if self.backtest_horizon is not None:
            _number("backtest_horizon", self.backtest_horizon, 0, 1e12, low_open=True)
        if isinstance(self.backtest_origins, bool) or not isinstance(self.backtest_origins, int):
            raise PredictiveValidationError("backtest_origins", "expected an integer 0-50")
        _number("backtest_origins", self.backtest_origins, 0, 50)
        _number("confidence_tolerance", self.confidence_tolerance, 0, 10, low_open=True)
        _number("retrain_interval", self.retrain_interval, 0, 1e9, low_open=True)
        _number("retrain_coverage_below", self.retrain_coverage_below, 0, 1)

    @classmethod
    def from_value(cls, config: Mapping[str, Any] | None = None, **kwargs: Any) -> PredictorConfig:
        """Build from a dict and/or keywords (keywords win); unknown keys are an error."""
        values = {**(config or {}), **kwargs}
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise PredictiveValidationError(
                    key, f"unknown setting; known settings: {', '.join(sorted(known))}"
                )
        if "metric_name" not in values:
            raise PredictiveValidationError("metric_name", "is required")
        return cls(**values)

    def replace(self, **changes: Any) -> PredictorConfig:
        return dataclasses.replace(self, **changes)
