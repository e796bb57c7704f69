"""Calibrated intervals and the confidence score, from backtest errors.

**Intervals (split conformal, horizon-scaled).** A rolling-origin backtest yields
errors ``e[o, j]`` (origin o, step j) and the model's own error scale ``s[o, j]`` at
that step. The scores ``|e| / s`` are pooled over origins and steps, and their
finite-sample conformal quantile ``q`` (the ceil((N+1) level)-th smallest) sets the
half-width at step j of a new forecast to ``q * s_j``. So the *shape* over horizons
comes from the model and the *width* from what the errors actually were; with enough
origins per step (``PER_STEP_MIN``), the per-step empirical quantile is used
directly. Normal-theory bounds are used only when there is no backtest at all.

**Weights.** Origins (rows) may carry weights (``decay_weights``: the newest 1, halving
every half-life); the quantile is then the weighted conformal one of Barber et al.
(2023, non-exchangeable split conformal): the smallest score whose cumulative weight
reaches ``level`` of the total plus the test point's weight (the largest). With no
weights it is the plain rank above, bit for bit.

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

__all__ = ["PER_STEP_MIN", "Calibration", "conformal_quantile", "decay_weights"]

PER_STEP_MIN = 30


def conformal_quantile(scores: FloatArray, level: float) -> float:
    """The ceil((N+1) level)-th smallest score (inf when there are too few)."""
    s = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])
    if s.size == 0:
        return float("inf")
    rank = int(np.ceil((s.size + 1) * level))
    return float(s[min(rank, s.size) - 1])


def decay_weights(origins: int, half_life: float) -> FloatArray:
    """Weights of ``origins`` rows in time order: the newest 1, halving every ``half_life``."""
    age = np.arange(origins - 1, -1, -1, dtype=np.float64)
    return np.asarray(0.5 ** (age / max(half_life, 1e-9)), dtype=np.float64)


def _sorted(
    scores: FloatArray, weights: FloatArray, dtype: type = np.float64
) -> tuple[FloatArray, FloatArray]:
    """Finite scores sorted, with the cumulative sum of their weights in that order
    (the pooled ones as float32 when weighted: they serve only steps past the per-step
    columns, and the predictor's memory stays under 1 MB)."""
    ok = np.isfinite(scores)
    s, w = scores[ok], weights[ok]
    order = np.argsort(s, kind="stable")
    return s[order], np.cumsum(w[order]).astype(dtype)


def _weighted_quantile(s: FloatArray, cum: FloatArray, level: float, test: float) -> float:
    """Weighted conformal quantile: the smallest score whose cumulative weight reaches
    ``level`` of the total plus the test point's weight (the largest score when none does;
    with equal weights this is :func:`conformal_quantile`)."""
    if s.size == 0:
        return float("inf")
    i = int(np.searchsorted(cum, level * (float(cum[-1]) + test)))
    return float(s[min(i, s.size - 1)])


@dataclass
class Calibration:
    """Backtest scores |error| / model scale, by step (rows: origins, columns: steps)."""

    scores: FloatArray  # (origins, steps); NaN where an origin has no actual for the step
    #: weight of each origin (row); None: all 1. The test point counts as the largest.
    weights: FloatArray | None = None

    @classmethod
    def from_errors(
        cls, errors: FloatArray, scales: FloatArray, weights: FloatArray | None = None
    ) -> Calibration:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.abs(errors) / np.where(scales > 0, scales, np.nan)
        # A zero model scale with a zero error is a perfect score, not an unknown one.
        scores = np.where((scales <= 0) & (np.abs(errors) == 0), 0.0, scores)
        return cls(np.asarray(scores, dtype=np.float64), weights)

    @property
    def size(self) -> int:
        return int(self._pooled.size)

    def __post_init__(self) -> None:
        # Sorted once: the pooled scores, and each step's own where it has enough, each
        # with the cumulative weights in that order.
        scores = self.scores if self.scores.ndim == 2 else self.scores.reshape(-1, 1)
        rows = scores.shape[0]
        w = np.ones(rows) if self.weights is None else np.asarray(self.weights, np.float64)
        kind = np.float64 if self.weights is None else np.float32
        self._test = float(w.max()) if w.size else 1.0
        wide = np.broadcast_to(w[:, None], scores.shape)
        self._pooled, self._pooled_w = _sorted(scores.ravel(), wide.ravel(), kind)
        self._steps: dict[int, tuple[FloatArray, FloatArray]] = {}
        for j in range(scores.shape[1] if self.scores.ndim == 2 else 0):
            column = scores[:, j]
            if int(np.isfinite(column).sum()) >= PER_STEP_MIN:
                self._steps[j] = _sorted(column, w)

    def half_widths(self, scales: FloatArray, level: float) -> FloatArray:
        """Interval half-width per step for a forecast with model scales ``scales``."""
        pooled = _weighted_quantile(self._pooled, self._pooled_w, level, self._test)
        q = np.full(scales.size, pooled)
        for j, (column, cum) in self._steps.items():
            if j < scales.size:
                q[j] = _weighted_quantile(column, cum, level, self._test)
        return np.asarray(q * scales, dtype=np.float64)

    def confidence(self, values: FloatArray, scales: FloatArray, tolerance: float) -> FloatArray:
        """P(|actual - value| <= tolerance * |value|) per step, from the backtest scores."""
        out = np.zeros(values.size)
        if self._pooled.size == 0:
            return out
        allowed = tolerance * np.abs(values)
        positive = scales > 0
        ratio = np.divide(allowed, scales, out=np.zeros_like(allowed), where=positive)
        out = _share(self._pooled, self._pooled_w, ratio)
        for j, (column, cum) in self._steps.items():
            if j < values.size:
                out[j] = _share(column, cum, ratio[j : j + 1])[0]
        if not positive.all():  # a zero model scale: the forecast is exact by the model
            exact = float(_share(self._pooled, self._pooled_w, np.zeros(1))[0])
            out = np.where(positive, out, np.where(allowed > 0, 1.0, exact))
        return np.asarray(out, dtype=np.float64)

    def scaled(self, factor: float) -> Calibration:
        """The same calibration with every score multiplied by ``factor``."""
        return Calibration(self.scores * factor, self.weights)

    def coverage(self, level: float) -> float:
        """Leave-one-out check: share of backtest scores inside the pooled quantile."""
        flat = self._pooled  # every finite score, sorted
        if flat.size < 2:
            return float("nan")
        q = conformal_quantile(flat, level)
        return float(np.mean(flat <= q))

    def compact(self) -> None:
        """Drop the score matrix (the sorted copies answer every question after fit)."""
        self.scores = self.scores[:0]


def _share(s: FloatArray, cum: FloatArray, at: FloatArray) -> FloatArray:
    """Weighted share of the sorted scores ``s`` that are <= each value of ``at``."""
    idx = np.searchsorted(s, at, side="right")
    got = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
    return np.asarray(got / cum[-1], dtype=np.float64)
