"""Linear trend: y = a + b t by least squares, or robustly.

``robust=True`` uses iteratively reweighted least squares with Huber weights (scale
from the median absolute deviation), so a few spikes do not tilt the line. The
prediction interval is the textbook one for a new observation of a regression line:
it widens with distance from the centre of the data.
"""

from __future__ import annotations

import numpy as np

from ._base import FloatArray, Model

__all__ = ["LinearTrend", "huber_line"]

_HUBER_K = 1.345  # 95% efficiency at the normal distribution


def _weighted_line(t: FloatArray, y: FloatArray, w: FloatArray) -> tuple[float, float]:
    sw = w.sum()
    tm = float(np.dot(w, t) / sw)
    ym = float(np.dot(w, y) / sw)
    dt = t - tm
    denom = float(np.dot(w, dt * dt))
    slope = float(np.dot(w, dt * (y - ym)) / denom) if denom > 0 else 0.0
    return ym - slope * tm, slope


def huber_line(t: FloatArray, y: FloatArray, iterations: int = 20) -> tuple[float, float]:
    """Huber M-estimate of (intercept, slope) by IRLS."""
    w = np.ones_like(y)
    a, b = _weighted_line(t, y, w)
    for _ in range(iterations):
        r = y - (a + b * t)
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if scale <= 0:
            break
        u = np.abs(r) / (_HUBER_K * scale)
        w = np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-12))
        a_new, b_new = _weighted_line(t, y, w)
        converged = abs(a_new - a) + abs(b_new - b) <= 1e-10 * (1 + abs(a) + abs(b))
        a, b = a_new, b_new
        if converged:
            break
    return a, b


class LinearTrend(Model):
    """Least-squares (or Huber-robust) straight line through the series."""

    name = "linear"
    min_obs = 3

    def __init__(self, robust: bool = False) -> None:
        super().__init__()
        self.robust = robust
        self.intercept = 0.0
        self.slope = 0.0

    def _fit(self, y: FloatArray) -> None:
        t = np.arange(y.size, dtype=np.float64)
        if self.robust:
            self.intercept, self.slope = huber_line(t, y)
        else:
            self.intercept, self.slope = _weighted_line(t, y, np.ones_like(y))
        self.residuals = y - (self.intercept + self.slope * t)
        self._tmean = float(t.mean())
        self._sxx = float(np.sum((t - self._tmean) ** 2))
        self._s2 = float(np.sum(self.residuals**2) / max(y.size - 2, 1))

    def forecast(self, h: int) -> FloatArray:
        t = self.n + np.arange(h, dtype=np.float64)
        return self.intercept + self.slope * t

    def sigma(self, h: int) -> FloatArray:
        t = self.n + np.arange(h, dtype=np.float64)
        lever = 1.0 + 1.0 / self.n + (t - self._tmean) ** 2 / max(self._sxx, 1e-12)
        return np.sqrt(self._s2 * lever)
