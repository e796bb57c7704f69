"""Calibrated intervals and the confidence score, from backtest errors.

**Intervals (split conformal, horizon-scaled).** A rolling-origin backtest yields
errors ``e[o, j]`` (origin o, step j) and the model's own error scale ``s[o, j]`` at
that step. The scores ``|e| / s`` are pooled over origins and steps, and their
finite-sample conformal quantile ``q`` (the ceil((N+1) level)-th smallest) sets the
half-width at step j of a new forecast to ``q * s_j``. So the *shape* over horizons
comes from the model and the *width* from what the errors actually were; with enough
origins per step (``PER_STEP_MIN``), the per-step empirical quantile is used
directly. Normal-theory bounds are used only when there is no backtest at all.

**Confidence (0-1).** The estimated probability that the actual lands within
``tolerance`` (default 10%) of the predicted value: the fraction of backtest scores
``z`` with ``z * s_j <= tolerance * |value|``. It falls as the interval widens
relative to the value and as the backtest errors grow, and it is a probability, so its
calibration can be (and is, in benchmarks/predictive_forecast_eval.py) measured: of
the forecasts given confidence c, about a fraction c should land within tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._base import FloatArray

__all__ = ["PER_STEP_MIN", "Calibration", "conformal_quantile"]

PER_STEP_MIN = 30


def conformal_quantile(scores: FloatArray, level: float) -> float:
    """The ceil((N+1) level)-th smallest score (inf when there are too few)."""
    s = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])
    if s.size == 0:
        return float("inf")
    rank = int(np.ceil((s.size + 1) * level))
    return float(s[min(rank, s.size) - 1])


@dataclass
class Calibration:
    """Backtest scores |error| / model scale, by step (rows: origins, columns: steps)."""

    scores: FloatArray  # (origins, steps); NaN where an origin has no actual for the step

    @classmethod
    def from_errors(cls, errors: FloatArray, scales: FloatArray) -> Calibration:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.abs(errors) / np.where(scales > 0, scales, np.nan)
        # A zero model scale with a zero error is a perfect score, not an unknown one.
        scores = np.where((scales <= 0) & (np.abs(errors) == 0), 0.0, scores)
        return cls(np.asarray(scores, dtype=np.float64))

    @property
    def size(self) -> int:
        return int(np.isfinite(self.scores).sum())

    def __post_init__(self) -> None:
        # Sorted once: the pooled scores, and each step's own where it has enough.
        flat = self.scores[np.isfinite(self.scores)]
        self._pooled = np.sort(flat)
        self._steps: dict[int, FloatArray] = {}
        for j in range(self.scores.shape[1] if self.scores.ndim == 2 else 0):
            column = self.scores[:, j]
            column = column[np.isfinite(column)]
            if column.size >= PER_STEP_MIN:
                self._steps[j] = np.sort(column)

    def half_widths(self, scales: FloatArray, level: float) -> FloatArray:
        """Interval half-width per step for a forecast with model scales ``scales``."""
        q = np.full(scales.size, conformal_quantile(self._pooled, level))
        for j, column in self._steps.items():
            if j < scales.size:
                q[j] = conformal_quantile(column, level)
        return np.asarray(q * scales, dtype=np.float64)

    def confidence(self, values: FloatArray, scales: FloatArray, tolerance: float) -> FloatArray:
        """P(|actual - value| <= tolerance * |value|) per step, from the backtest scores."""
        out = np.zeros(values.size)
        if self._pooled.size == 0:
            return out
        allowed = tolerance * np.abs(values)
        positive = scales > 0
        ratio = np.divide(allowed, scales, out=np.zeros_like(allowed), where=positive)
        out = np.searchsorted(self._pooled, ratio, side="right") / self._pooled.size
        for j, column in self._steps.items():
            if j < values.size:
                out[j] = np.searchsorted(column, ratio[j], side="right") / column.size
        if not positive.all():  # a zero model scale: the forecast is exact by the model
            exact = float(np.mean(self._pooled == 0))
            out = np.where(positive, out, np.where(allowed > 0, 1.0, exact))
        return np.asarray(out, dtype=np.float64)

    def coverage(self, level: float) -> float:
        """Leave-one-out check: share of backtest scores inside the pooled quantile."""
        flat = self.scores[np.isfinite(self.scores)]
        if flat.size < 2:
            return float("nan")
        q = conformal_quantile(flat, level)
        return float(np.mean(flat <= q))
