"""Naive baselines: seasonal naive (the fallback) and M4's Naive2 (the OWA yardstick).

Seasonal naive repeats the last full cycle of the primary period (the last value when
there is no period). It cannot fail on a finite series of one cycle, so the predictor
falls back to it whenever a richer model does not fit. Naive2 is defined by the M4
competition: when a 90% autocorrelation test finds the period, the series is divided
by classical multiplicative seasonal indices, forecast with naive, and re-seasonalized.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import FloatArray, Model

__all__ = ["Naive2", "SeasonalNaive", "acf", "classical_indices", "m4_seasonality_test"]


def acf(y: FloatArray, nlags: int) -> FloatArray:
    """Sample autocorrelations at lags 0..nlags (FFT, biased estimator as usual)."""
    x = np.asarray(y, dtype=np.float64) - np.mean(y)
    n = x.size
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, size)
    r = np.fft.irfft(spec * np.conj(spec), size)[: nlags + 1]
    return r / r[0] if r[0] > 0 else np.zeros(nlags + 1)


def m4_seasonality_test(y: FloatArray, m: int) -> bool:
    """M4's test: |acf(m)| beyond the 90% limit with Bartlett's variance."""
    if m <= 1 or y.size < 3 * m:
        return False
    r = acf(y, m)
    limit = 1.645 * np.sqrt((1.0 + 2.0 * np.sum(r[1:m] ** 2)) / y.size)
    return bool(abs(r[m]) > limit)


def classical_indices(y: FloatArray, m: int) -> FloatArray:
    """Multiplicative seasonal indices (length m, phase of ``y[0]``), mean one."""
    # centred 2 x m moving average for even m
    kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(y, kernel, mode="valid")
    offset = (kernel.size - 1) // 2
    ratio = y[offset : offset + trend.size] / trend
    phase = (np.arange(trend.size) + offset) % m
    sums = np.bincount(phase, weights=ratio, minlength=m)
    counts = np.bincount(phase, minlength=m)
    idx = sums / np.maximum(counts, 1)
    return idx * m / idx.sum()


class SeasonalNaive(Model):
    """y[t+k] = y[t+k-m] from the last cycle; m = primary period (1 without one)."""

    name = "seasonal_naive"
    min_obs = 1

    def min_samples(self, periods: Sequence[int]) -> int:
        return max(1, periods[0]) if periods else 1

    def _fit(self, y: FloatArray) -> None:
        m = self.periods[0] if self.periods else 1
        if y.size < 2 * m:
            m = 1  # one cycle only: no season to repeat honestly, use the last value
        self.m = m
        self.residuals = y[m:] - y[:-m] if y.size > m else np.zeros(1)

    def tail_needed(self) -> tuple[int, int]:
        return self.m, 0

    def forecast(self, h: int) -> FloatArray:
        cycle = self.last[-self.m :]
        return np.resize(cycle, h).astype(np.float64)

    def sigma(self, h: int) -> FloatArray:
        cycles = np.arange(h) // self.m + 1
        return np.sqrt(self.sigma2 * cycles)


class Naive2(Model):
    """M4's Naive2: naive on the seasonally adjusted series, when the test says seasonal."""

    name = "naive2"
    min_obs = 2

    def _fit(self, y: FloatArray) -> None:
        m = self.periods[0] if self.periods else 1
        self.m = m
        self.indices = np.ones(max(m, 1))
        if m > 1 and np.all(y > 0) and m4_seasonality_test(y, m):
            self.indices = classical_indices(y, m)
        season = np.resize(self.indices, y.size)
        adjusted = y / season
        self.level = float(adjusted[-1])
        self.residuals = np.diff(adjusted) * season[1:]

    def forecast(self, h: int) -> FloatArray:
        phase = (self.n + np.arange(h)) % self.indices.size
        return self.level * self.indices[phase]
