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

    def _step_scores(self, step: int) -> FloatArray:
        cols = self.scores.shape[1]
        if cols and step < cols:
            column = self.scores[:, step]
            column = column[np.isfinite(column)]
            if column.size >= PER_STEP_MIN:
                return column
        return self.scores[np.isfinite(self.scores)]

    def half_widths(self, scales: FloatArray, level: float) -> FloatArray:
        """Interval half-width per step for a forecast with model scales ``scales``."""
        out = np.empty(scales.size)
        pooled = conformal_quantile(self.scores.ravel(), level)
        for j in range(scales.size):
            scores = self._step_scores(j)
            q = conformal_quantile(scores, level) if scores.size >= PER_STEP_MIN else pooled
            out[j] = q * scales[j]
        return out

    def confidence(self, values: FloatArray, scales: FloatArray, tolerance: float) -> FloatArray:
        """P(|actual - value| <= tolerance * |value|) per step, from the backtest scores."""
        out = np.zeros(values.size)
        for j in range(values.size):
            scores = self._step_scores(j)
            if scores.size == 0:
                continue
            allowed = tolerance * abs(float(values[j]))
            if scales[j] <= 0:
                out[j] = 1.0 if allowed > 0 else float(np.mean(scores == 0))
                continue
            out[j] = float(np.mean(scores * scales[j] <= allowed))
        return out

    def coverage(self, level: float) -> float:
        """Leave-one-out check: share of backtest scores inside the pooled quantile."""
        flat = self.scores[np.isfinite(self.scores)]
        if flat.size < 2:
            return float("nan")
        q = conformal_quantile(flat, level)
        return float(np.mean(flat <= q))
