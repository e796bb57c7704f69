"""What every forecasting model provides, and the result it returns.

A model is fitted on a regular series (``fit(y, periods)``) and then forecasts
``h`` steps ahead: :meth:`Model.forecast` gives the point forecasts,
:meth:`Model.sigma` the model's own standard deviation of the h-step error (used
only to *shape* intervals across horizons; their width is calibrated on backtest
errors, see ``_intervals``), and :meth:`Model.predict` both, as a
:class:`ModelForecast` with normal-theory bounds at a level.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from ._errors import FitError

__all__ = ["FloatArray", "Model", "ModelForecast", "approx_nbytes", "normal_bounds", "sse_guard"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ModelForecast:
    """Point forecasts and bounds for steps 1..h (arrays of length h)."""

    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    level: float
    model: str


def normal_bounds(
    mean: FloatArray, sigma: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    z = float(norm.ppf(0.5 + level / 2.0))
    return mean - z * sigma, mean + z * sigma


def sse_guard(value: float) -> float:
    """Optimizers need a finite objective: map NaN/inf (an exploding filter) to a big one."""
    return value if np.isfinite(value) else 1e300


def approx_nbytes(obj: object, seen: set[int] | None = None, depth: int = 0) -> int:
    """Bytes of the numpy arrays reachable from ``obj`` (attributes, lists, dicts), once each."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        items: list[object] = list(obj.values())
    elif isinstance(obj, list | tuple):
        items = list(obj)
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).values())
    else:
        return 0
    return sum(approx_nbytes(item, seen, depth + 1) for item in items)


class Model(ABC):
    """Base class: subclasses implement ``_fit`` and ``forecast``, and may refine ``sigma``."""

    name: str = "model"
    #: fewest observations ``fit`` accepts for the given periods (see ``min_samples``).
    min_obs: int = 3

    def __init__(self) -> None:
        self.fitted = False
        self.n = 0
        self.periods: tuple[int, ...] = ()
        self.residuals: FloatArray = np.zeros(0)
        self.sigma2 = 0.0
        self.last: FloatArray = np.zeros(0)

    def min_samples(self, periods: Sequence[int]) -> int:
        return self.min_obs

    def fit(self, y: FloatArray, periods: Sequence[int] = ()) -> Self:
        """Fit on ``y`` (regular, finite). Raises :class:`FitError` if it cannot."""
        y = np.asarray(y, dtype=np.float64)
        need = self.min_samples(periods)
        if y.size < need:
            raise FitError(f"{self.name}: needs {need} observations, got {y.size}")
        if not np.all(np.isfinite(y)):
            raise FitError(f"{self.name}: series has non-finite values")
        self.n = int(y.size)
        self.periods = tuple(int(p) for p in periods)
        self.last = y
        try:
            with np.errstate(all="ignore"):
                self._fit(y)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, OverflowError) as exc:
            raise FitError(f"{self.name}: {exc}") from exc
        res = self.residuals[np.isfinite(self.residuals)]
        self.sigma2 = float(np.mean(res**2)) if res.size else 0.0
        self.fitted = True
        return self

    @abstractmethod
    def _fit(self, y: FloatArray) -> None:
        """Estimate parameters; must set ``self.residuals`` (one-step in-sample errors)."""

    @abstractmethod
    def forecast(self, h: int) -> FloatArray:
        """Point forecasts for steps 1..h."""

    def tail_needed(self) -> tuple[int, int]:
        """(observations, residuals) that ``forecast`` reads from the end; default none."""
        return 0, 0

    def compact(self) -> None:
        """Drop the history that forecasting no longer needs (a predictor keeps models)."""
        keep_obs, keep_res = self.tail_needed()
        self.last = self.last[self.last.size - keep_obs :].copy()
        self.residuals = self.residuals[self.residuals.size - keep_res :].copy()

    def sigma(self, h: int) -> FloatArray:
        """Std of the k-step error, k = 1..h. Default: random-walk growth sqrt(k)."""
        return np.sqrt(self.sigma2 * np.arange(1, h + 1, dtype=np.float64))

    def predict(self, h: int, level: float = 0.95) -> ModelForecast:
        if not self.fitted:
            raise FitError(f"{self.name}: predict before fit")
        mean = self.forecast(h)
        if not np.all(np.isfinite(mean)):
            raise FitError(f"{self.name}: forecast is not finite")
        lower, upper = normal_bounds(mean, self.sigma(h), level)
        return ModelForecast(mean, lower, upper, level, self.name)

    def __repr__(self) -> str:
        state = "fitted" if self.fitted else "unfitted"
        return f"<{type(self).__name__} {self.name} {state} n={self.n}>"
