"""Seasonal-decomposition forecaster: MSTL, then each part forecast on its own.

The series is split by MSTL into one seasonal component per detected period (for
hourly data typically daily and weekly) plus trend and remainder. Each seasonal
component is forecast by repeating its last cycle (it already changes slowly, that is
what STL's seasonal smoothing enforces); the seasonally adjusted series (trend +
remainder) is forecast by the best non-seasonal exponential-smoothing model (simple
or damped Holt, by AICc). Periods that do not have two full cycles of data are
dropped; without any, this reduces to that non-seasonal model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import FloatArray, Model
from ._errors import FitError
from ._ets import AutoETS
from ._stl import mstl

__all__ = ["STLForecaster"]

FIT_WINDOW = 5000  # the decomposition is linear in n; older history adds little


class STLForecaster(Model):
    """MSTL decomposition + seasonal naive per component + ETS on the adjusted series."""

    name = "stl"
    min_obs = 8

    def __init__(self) -> None:
        super().__init__()
        self.adjusted_model: AutoETS | None = None
        self._reestimate = False
        self.used_periods: tuple[int, ...] = ()
        self.seasons: list[FloatArray] = []

    def min_samples(self, periods: Sequence[int]) -> int:
        return self.min_obs

    def _decompose(self, y: FloatArray) -> FloatArray:
        usable = tuple(sorted({p for p in self.periods if p >= 2 and 2 * p <= y.size}))
        self.used_periods = usable
        if not usable:
            self.seasons = []
            return y
        seasons, _ = mstl(y, usable)
        self.seasons = seasons
        return np.asarray(y - np.sum(seasons, axis=0), dtype=np.float64)

    def _fit(self, y: FloatArray) -> None:
        y = y[-FIT_WINDOW:]
        adjusted = self._decompose(y)
        if self.adjusted_model is None:
            self.adjusted_model = AutoETS().fit(adjusted)
        elif self._reestimate:
            self.adjusted_model = self.adjusted_model.reestimate(adjusted)
        else:
            self.adjusted_model = self.adjusted_model.refit(adjusted)
        resid = self.adjusted_model.residuals
        if not np.all(np.isfinite(resid)):
            raise FitError("stl: adjusted-series model diverged")
        self.residuals = resid

    def refit(self, y: FloatArray) -> STLForecaster:
        """Decompose ``y`` afresh but keep the adjusted model's form and parameters."""
        twin = STLForecaster()
        twin.adjusted_model = self.adjusted_model
        twin.fit(y, self.periods)
        return twin

    def reestimate(self, y: FloatArray) -> STLForecaster:
        """Decompose ``y`` and re-estimate the adjusted model's parameters (same form)."""
        twin = STLForecaster()
        twin.adjusted_model = self.adjusted_model
        twin._reestimate = True
        twin.fit(y, self.periods)
        return twin

    def compact(self) -> None:
        super().compact()
        self.seasons = [s[-m:].copy() for m, s in zip(self.used_periods, self.seasons, strict=True)]
        if self.adjusted_model is not None:
            self.adjusted_model.compact()

    def forecast(self, h: int) -> FloatArray:
        assert self.adjusted_model is not None
        out = self.adjusted_model.forecast(h).copy()
        for m, season in zip(self.used_periods, self.seasons, strict=True):
            out += np.resize(season[-m:], h)
        return out

    def sigma(self, h: int) -> FloatArray:
        assert self.adjusted_model is not None
        return self.adjusted_model.sigma(h)
