"""Which seasonal periods a series has, how strong, and how sure we are.

Candidates are the calendar periods that the sampling step makes whole (an hour, a
day, a week: the seed's "hourly, daily, weekly" patterns), the strongest peaks of the
periodogram, and any custom periods the caller names. They are tested shortest first;
each test runs on the series with the periods already accepted removed, so a weekly
pattern is judged on what the daily one does not explain (and a harmonic of an
accepted period finds nothing left to explain).

The test for period ``p``: remove a centred moving average of length ``p`` (trend
out, season kept), take the autocorrelation ``r_p`` at lag ``p`` and compare it with
its large-sample standard error under "no seasonality at p" (Bartlett's formula, fed
with the autocorrelations of the de-seasoned remainder, so short-range dependence
widens the error instead of faking a period). One-sided ``p_value = 1 - Phi(r_p/se)``.
A period is reported when ``p_value < alpha`` (``alpha / (n/2)`` for a period the
periodogram proposed, Bonferroni over the frequencies scanned) and its strength (``1 - Var(remainder) /
Var(season + remainder)``, as in Wang, Smith and Hyndman 2006) is at least
``min_strength``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ._base import FloatArray
from ._naive import acf

__all__ = ["CALENDAR", "Period", "detect_periods", "label_for"]

CALENDAR = (("hourly", 3600.0), ("daily", 86400.0), ("weekly", 604800.0))


@dataclass(frozen=True)
class Period:
    """A detected seasonal period."""

    samples: int  # period length in grid steps
    seconds: float
    label: str  # "hourly", "daily", "weekly" or "custom"
    strength: float  # 0..1
    p_value: float
    acf: float

    def as_dict(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "seconds": self.seconds,
            "label": self.label,
            "strength": round(self.strength, 4),
            "p_value": float(self.p_value),
            "acf": round(self.acf, 4),
        }


def label_for(seconds: float) -> str:
    for label, length in CALENDAR:
        if abs(seconds - length) <= 0.02 * length:
            return label
    return "custom"


def _centred_ma(y: FloatArray, p: int) -> FloatArray:
    kernel = np.r_[0.5, np.ones(p - 1), 0.5] / p if p % 2 == 0 else np.ones(p) / p
    trend = np.convolve(y, kernel, mode="same")
    half = kernel.size // 2
    # edges: hold the first/last full average instead of the zero-padded one
    trend[:half] = trend[half]
    trend[-half:] = trend[-half - 1]
    return trend


def _phase_means(x: FloatArray, p: int) -> FloatArray:
    phase = np.arange(x.size) % p
    sums = np.bincount(phase, weights=x, minlength=p)
    return sums / np.maximum(np.bincount(phase, minlength=p), 1)


def _periodogram_candidates(y: FloatArray, count: int) -> list[int]:
    x = y - _centred_ma(y, max(3, min(y.size // 4, 1000)) | 1)
    power = np.abs(np.fft.rfft(x - x.mean())) ** 2
    freqs = np.fft.rfftfreq(x.size)
    out: list[int] = []
    for i in np.argsort(power[1:])[::-1][: count * 3] + 1:
        period = round(float(1.0 / freqs[i]))
        if 2 <= period <= y.size // 3 and period not in out:
            out.append(period)
        if len(out) == count:
            break
    return out


def _test(x: FloatArray, p: int) -> tuple[float, float, float, FloatArray]:
    """(acf at p, p-value, strength, season) for period p on series x."""
    detr = x - _centred_ma(x, p)
    means = _phase_means(detr, p)
    season = np.resize(means - means.mean(), x.size)
    rem = detr - season
    total = float(np.var(detr))
    strength = 0.0 if total <= 0 else max(0.0, 1.0 - float(np.var(rem)) / total)
    r = acf(detr, p)
    rho = acf(rem, p - 1) if p > 1 else np.ones(1)
    se = np.sqrt((1.0 + 2.0 * float(np.sum(rho[1:] ** 2))) / x.size)
    p_value = float(norm.sf(r[p] / se)) if se > 0 else 1.0
    return float(r[p]), p_value, strength, season


def detect_periods(
    y: FloatArray,
    step_seconds: float = 1.0,
    custom: Sequence[float] = (),
    alpha: float = 0.01,
    min_strength: float = 0.1,
    max_periods: int = 3,
) -> list[Period]:
    """Significant seasonal periods of ``y`` (sampled every ``step_seconds``).

    ``custom`` lists extra candidate periods in seconds. Each period needs at least
    two full cycles of data to be considered.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n < 8 or np.ptp(y) == 0:
        return []
    candidates: dict[int, str] = {}
    searched: set[int] = set()  # found by scanning the periodogram: a multiple-testing pick
    for seconds in [length for _, length in CALENDAR] + [float(c) for c in custom]:
        samples = seconds / step_seconds
        whole = round(samples)
        if whole >= 2 and abs(samples - whole) <= 0.02 * samples:
            candidates.setdefault(whole, label_for(seconds))
    for found in _periodogram_candidates(y, 3):
        if not any(abs(found - c) <= 0.05 * c for c in candidates):
            candidates[found] = label_for(found * step_seconds)
            searched.add(found)
    accepted: list[Period] = []
    x = y.copy()
    for p in sorted(candidates):
        if 2 * p > n or len(accepted) >= max_periods:
            continue
        r, p_value, strength, season = _test(x, p)
        # Bonferroni over the n/2 frequencies scanned when the data proposed the period.
        level = alpha / (n // 2) if p in searched else alpha
        if p_value < level and strength >= min_strength:
            accepted.append(Period(p, p * step_seconds, candidates[p], strength, p_value, r))
            x = x - season
    return accepted
