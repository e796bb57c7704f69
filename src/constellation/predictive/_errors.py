"""Errors of the predictive package, and the input checks that raise them.

The hierarchy::

    ConstellationError
    ├── PredictiveError                 root of this package
    │   ├── NotTrainedError             predict() before a successful train()
    │   ├── FitError                    a model could not be fitted (the predictor falls back)
    │   └── NoSeriesError               predict(name) with no predictor and no platform series
    │                                   (also a constellation NotFoundError)
    └── ValidationError                 bad input: names the field and what is allowed
        └── PredictiveValidationError   also a PredictiveError
            └── InsufficientDataError   too few samples; says how many are needed

Every check here runs *before* anything is changed, so a rejected call leaves the
predictor exactly as it was (the model is never poisoned).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from constellation.errors import ConflictError, ConstellationError, NotFoundError, ValidationError

__all__ = [
    "MAX_ABS_VALUE",
    "FitError",
    "InsufficientDataError",
    "NoSeriesError",
    "NotTrainedError",
    "PredictiveError",
    "PredictiveValidationError",
    "check_horizon",
    "check_model",
    "check_value",
]

# Values beyond this lose all precision once squared (float64 max is ~1.8e308); a
# metric of this size is a unit bug upstream, so we refuse it rather than overflow.
MAX_ABS_VALUE = 1e150


class PredictiveError(ConstellationError):
    """Root of every error raised on purpose by ``constellation.predictive``."""


class PredictiveValidationError(PredictiveError, ValidationError):
    """Bad input to a predictor; ``field`` names it and the message says what is allowed."""


class InsufficientDataError(PredictiveValidationError):
    """Too few samples to train; ``needed`` and ``have`` say how many."""

    def __init__(self, needed: int, have: int, why: str = "") -> None:
        self.needed = needed
        self.have = have
        reason = f" ({why})" if why else ""
        super().__init__(
            "samples", f"{have} usable samples; at least {needed} are needed to train{reason}"
        )


class NotTrainedError(PredictiveError, ConflictError):
    """The predictor has no trained model yet: call ``train()`` first."""


class FitError(PredictiveError):
    """A model failed to fit this series. Predictors catch it and fall back."""


class NoSeriesError(PredictiveError, NotFoundError):
    """No predictor is registered under the name and no series source knows it."""


def check_value(value: object, field: str = "value") -> float:
    """Return ``value`` as a finite float, or raise naming what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # type: ignore[arg-type]  # numpy scalars, Decimal
        except (TypeError, ValueError):
            raise PredictiveValidationError(field, f"{value!r} is not a number") from None
    number = float(value)
    if math.isnan(number):
        raise PredictiveValidationError(
            field, "NaN is not a valid sample; expected a finite number"
        )
    if math.isinf(number):
        raise PredictiveValidationError(
            field, f"{number} is not a valid sample; expected a finite number"
        )
    if abs(number) > MAX_ABS_VALUE:
        raise PredictiveValidationError(
            field, f"{number!r} is too large; expected |value| <= {MAX_ABS_VALUE:g}"
        )
    return number


def check_horizon(horizon: object, field: str = "horizon_seconds") -> float:
    """A horizon must be a finite number of seconds > 0."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | float):
        raise PredictiveValidationError(field, f"{horizon!r} is not a number of seconds")
    if not math.isfinite(horizon) or horizon <= 0:
        raise PredictiveValidationError(field, f"{horizon!r} is out of range; expected > 0 seconds")
    return float(horizon)


def check_model(model: object, allowed: Iterable[str]) -> str:
    """``model`` must be one of ``allowed``; the error lists them."""
    names = tuple(allowed)
    if not isinstance(model, str) or model not in names:
        raise PredictiveValidationError(
            "model", f"{model!r} is not a known model; expected one of {', '.join(names)}"
        )
    return model
