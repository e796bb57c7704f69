"""Last cycle's surprise, carried forward: the weekly correction of ``mseason``.

A weekday/weekend step needs a weekly profile, and a weekly profile needs more than the
two weeks that a 14-day window holds: with two cycles the moving-average trend leaves
the ends' drift in it, and a level shift inside the second week lands half in it. The
correction asks a narrower question that two weeks can answer: *how wrong was the
level model's forecast from this same point one cycle ago?* If the k-step errors at
origin ``o - P`` (P a week, or another candidate cycle) foretell those at ``o`` over
the origins that have a cycle and a warm-up (the shortest period) of data before them,
the forecast from ``o`` adds ``beta`` times the errors from ``o - P``:

* ``e_k(o) = d[o + k] - level[o]`` are the deseasonalised series' k-step errors (``d``
  is what the profiles leave, ``level`` the smoothed level after ``o``);
* the carried errors use ``d`` smoothed over a few samples (noise of one sample is not
  carried): ``c_k(o) = smooth(d)[o - P + k] - level[o - P]``, and values within
  ``THRESHOLD`` robust sd of zero are set to zero (everyday noise is not carried; a
  step of several sd is, whole);
* ``beta`` is the value in ``BETAS`` with the lowest mean absolute corrected error
  ``|e_k(o) - beta c_k(o)|`` over those origins (every ``STRIDE``-th, k = 1..``steps``),
  and it must beat no correction by ``GAIN``; otherwise it is 0. The candidate with
  the largest gain wins.

A level shift one week ago at the same hour is carried too (at ``beta``): that is the
price; a shift reset at the end of the series turns the correction off (the level is
then already at the new value).

Candidate cycles: each given period with two cycles in the data, and seven times the
shortest one (a week when it is a day: detection often misses a weekly period in just
two weeks of data, as the day-of-week step moves only a few days' means). The
constants were chosen on the tuning series of ``benchmarks/forecast_vs_mstl.py``
(BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import FloatArray

__all__ = ["WeeklyCorrection", "candidates", "smooth"]

BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
GAIN = 0.005  # a correction must cut the mean absolute error by 0.5%
STRIDE = 4  # origins used to choose beta: every STRIDE-th
THRESHOLD = 3.0  # carried errors within this many robust sd of zero are not carried
MAD_STRIDE = 7  # the carried errors' robust sd from every 7th value
CARRY_MAX = 2016  # carried errors kept for at most this many steps (memory bound)


def candidates(periods: Sequence[int], n: int, warm: int) -> list[int]:
    """Cycles to try: the periods, and 7x the shortest, that fit twice plus ``warm``."""
    ps = sorted(p for p in periods if p >= 2)
    out = set(ps) | ({7 * ps[0]} if ps else set())
    return sorted(p for p in out if 2 * p <= n and p + warm < n)


def smooth(d: FloatArray, width: int) -> FloatArray:
    """Centred moving average of ``width`` samples (odd), edges shortened."""
    if width <= 1:
        return d
    c = np.r_[0.0, np.cumsum(d)]
    half = width // 2
    idx = np.arange(d.size)
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, d.size)
    return np.asarray((c[hi] - c[lo]) / (hi - lo), dtype=np.float64)


def _shrink(c: FloatArray, cut: float) -> FloatArray:
    """Hard threshold: values within ``cut`` of zero are dropped (everyday noise)."""
    return np.asarray(np.where(np.abs(c) > cut, c, 0.0), dtype=np.float64)


def _matrix(x: FloatArray, base: FloatArray, origins: range, steps: int) -> FloatArray:
    """out[i, k-1] = x[origins[i] + k] - base[i] (NaN past the end); a slice per step."""
    out = np.full((len(origins), steps), np.nan)
    for k in range(1, steps + 1):
        part = x[origins.start + k : origins.stop + k : origins.step]
        out[: part.size, k - 1] = part
    return np.asarray(out - base[:, None], dtype=np.float64)


class WeeklyCorrection:
    """The chosen cycle and weight, and the carried errors for the last origin."""

    def __init__(self) -> None:
        self.period = 0
        self.beta = 0.0
        self.gain = 0.0  # relative cut of the mean absolute error where it was chosen
        self.carried: FloatArray = np.zeros(0)  # c_k for the last origin, k = 1..
        self.cut = 0.0  # soft threshold: THRESHOLD robust sd of the carried errors

    def fit(
        self,
        d: FloatArray,
        level: FloatArray,
        ds: FloatArray,
        periods: Sequence[int],
        warm: int,
        steps: int,
    ) -> WeeklyCorrection:
        n = d.size
        best = (0.0, 0, 0.0, 0.0)  # gain, period, beta, cut
        for period in candidates(periods, n, warm):
            origins = range(period + warm, n - 1, STRIDE)
            if len(origins) < 10:
                continue
            back = range(origins.start - period, origins.stop - period, STRIDE)
            err = _matrix(d, level[origins.start : origins.stop : STRIDE], origins, steps)
            carry = _matrix(ds, level[back.start : back.stop : STRIDE], back, steps)
            ok = np.isfinite(err) & np.isfinite(carry)
            e, c = err[ok], carry[ok]
            base = float(np.mean(np.abs(e))) if e.size else 0.0
            if base <= 0:
                continue
            spread = c[::MAD_STRIDE]  # the carried errors' scale needs no more
            cut = THRESHOLD * 1.4826 * float(np.median(np.abs(spread - np.median(spread))))
            c = _shrink(c, cut)
            for beta in BETAS[1:]:
                gain = 1.0 - float(np.mean(np.abs(e - beta * c))) / base
                if gain > max(best[0], GAIN):
                    best = (gain, period, beta, cut)
        self.gain, self.period, self.beta, self.cut = best
        if self.period:
            o = n - 1 - self.period
            length = min(self.period, n - 1 - o, CARRY_MAX)
            self.carried = _shrink(ds[o + 1 : o + 1 + length] - level[o], self.cut)
        return self

    def errors_at(
        self, d: FloatArray, level: FloatArray, ds: FloatArray, start: int, steps: int
    ) -> FloatArray:
        """Corrected k-step errors at origins ``start``.. (uncorrected without a cycle before)."""
        n = d.size
        err = _matrix(d, level[start:], range(start, n), steps)
        if not self.period or self.beta == 0:
            return err
        first = max(start, self.period)  # origins with a cycle before them
        if first < n:
            back = range(first - self.period, n - self.period)
            carry = _matrix(ds, level[back.start : back.stop], back, steps)
            err[first - start :] -= self.beta * np.nan_to_num(_shrink(carry, self.cut))
        return err

    def forecast(self, h: int) -> FloatArray:
        """beta * carried errors for steps 1..h (held at the last value past the cycle)."""
        if not self.period or self.beta == 0 or self.carried.size == 0:
            return np.zeros(h)
        c = self.carried[:h]
        if c.size < h:
            c = np.r_[c, np.full(h - c.size, c[-1])]
        return np.asarray(self.beta * c, dtype=np.float64)
