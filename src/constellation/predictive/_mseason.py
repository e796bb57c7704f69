"""Robust multi-seasonal level model: median seasonal profiles + an adaptive level.

Built for operational metrics sampled every minute or five (daily and weekly cycles,
trends, level shifts), where a one-hour forecast is mostly "today's profile at the
current level":

1. **Seasonal profiles.** For each usable period ``p`` (two cycles of data for the
   shortest, ``EXTRA_CYCLES`` for the others), shortest first, the series minus the
   other profiles is detrended by a centred moving average of length ``p``; the
   profile is the *median* over the last ``MAX_CYCLES`` cycles of each phase (a
   one-off spike or a level shift inside one cycle does not move it), smoothed
   circularly over ``p / SMOOTH_DIV`` phases and centred. Two passes, as in MSTL.
   Each profile is shrunk by the share of its variance that the median's sampling
   noise explains (a few noisy cycles give a weak profile).
2. **Level.** The deseasonalised series is followed by exponential smoothing
   (``scipy.signal.lfilter``, so a 10,000-sample fit costs milliseconds); the
   smoothing weight is chosen from a small grid by the mean absolute error of the
   1..``FIT_STEPS``-step forecasts it would have made over the recent window.
3. **Level shifts.** When the last r deseasonalised values (r from 48 down to
   ``SHIFT_RUN``) have a median, and so does their first half, more than
   ``SHIFT_Z`` robust sd from the level before them, with 90% of them (and the last
   ``SHIFT_RUN``) on that side, the level is reset to that median, so the forecast
   reaches a new level within a few steps instead of lagging at the smoothing's pace.
4. **Last week's surprise.** :class:`~._weekly.WeeklyCorrection` adds, when it pays
   on the series' own errors, the level forecast's errors from the same point one
   cycle (a week) ago: the weekday/weekend step that two weeks of data cannot give a
   weekly profile for. The k-step errors below are the corrected ones.
5. **Error scale and intervals.** ``sigma(h)`` is the RMS of the k-step errors over
   the recent window (k = 1..h; beyond ``MAX_STEPS`` it grows as sqrt(k)).
   :meth:`MultiSeasonal.recent_errors` hands those errors, at every recent origin, to
   the forecaster, which calibrates the intervals on them, the newer origins weighing
   more (``_ensemble._recent_calibration``, ``_intervals``).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.signal import lfilter

from ._base import FloatArray, Model
from ._weekly import WeeklyCorrection, smooth

__all__ = ["MultiSeasonal"]

MAX_CYCLES = 7  # cycles of each period that vote in its median profile
SMOOTH_DIV = 96  # the profile is smoothed over p / SMOOTH_DIV phases (15 min of a day)
ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0)
FIT_STEPS = 12  # the level's weight is chosen on 1..FIT_STEPS-step errors
RECENT = 2016  # recent window (samples) for the weight and the error scale ...
RECENT_CYCLES = 3  # ... or this many cycles of the longest period, if longer
MAX_STEPS = 64  # k-step error scales computed up to this k
CALIBRATION_ORIGINS = 400  # recent origins handed to the calibration (memory bound)
EXTRA_CYCLES = 3  # cycles needed for each period but the shortest
SHIFT_RUN = 4  # fewest same-sign one-step errors that make a shift
SHIFT_RUNS = (48, 32, 24, 16, 12, 8, 6, 4)  # run lengths tried
SHIFT_MAX = SHIFT_RUNS[0]
SHIFT_Z = 3.0


def _centred_mean(x: FloatArray, p: int) -> FloatArray:
    """Centred moving average of length p (2x(p) for even p), edges held constant."""
    n = x.size
    width = p + 1 if p % 2 == 0 else p
    if n < width:
        return np.full(n, float(np.mean(x)))
    c = np.r_[0.0, np.cumsum(x)]
    sums = c[p:] - c[:-p]  # sums[i] = x[i] + ... + x[i+p-1]
    core = (sums[:-1] + sums[1:]) / (2 * p) if p % 2 == 0 else sums / p
    left = (width - 1) // 2
    out = np.empty(n)
    out[left : left + core.size] = core
    out[:left] = core[0]
    out[left + core.size :] = core[-1]
    return out


def _profile(detrended: FloatArray, p: int, smooth: int) -> FloatArray:
    """Median per phase of the last cycles (aligned so the last value is phase p-1).

    Smoothed over ``smooth`` phases, centred, then shrunk towards zero by the share of
    its variance that the median's own sampling noise would explain (James-Stein
    style): a profile from two noisy cycles counts for less than one from seven.
    """
    cycles = min(detrended.size // p, MAX_CYCLES)
    block = detrended[detrended.size - cycles * p :].reshape(cycles, p)
    prof = np.median(block, axis=0)
    noise = float(np.mean((block - prof) ** 2)) * cycles / max(cycles - 1, 1)
    if smooth > 1:
        k = np.ones(smooth) / smooth
        wrapped = np.r_[prof[-(smooth // 2) :], prof, prof[: smooth - 1 - smooth // 2]]
        prof = np.convolve(wrapped, k, mode="valid")
    prof = prof - prof.mean()
    power = float(np.mean(prof**2))
    se2 = 1.57 * noise / (cycles * smooth)  # variance of a median of normal noise
    factor = max(0.0, 1.0 - se2 / power) if power > 0 else 0.0
    return np.asarray(prof * factor, dtype=np.float64)


def _ewma(d: FloatArray, alpha: float) -> FloatArray:
    """Level after each observation: L_t = alpha d_t + (1 - alpha) L_{t-1}, L_0 = d_0."""
    out, _ = lfilter([alpha], [1.0, alpha - 1.0], d[1:], zi=[(1.0 - alpha) * d[0]])
    return np.asarray(np.r_[d[0], out], dtype=np.float64)


def _kstep_errors(d: FloatArray, level: FloatArray, steps: int) -> FloatArray:
    """errors[k-1, t] = d[t + k] - level[t] for k = 1..steps (NaN past the end)."""
    n = d.size
    out = np.full((steps, n), np.nan)
    for k in range(1, min(steps, n - 1) + 1):
        out[k - 1, : n - k] = d[k:] - level[: n - k]
    return out


class MultiSeasonal(Model):
    """Median seasonal profiles (all usable periods) + adaptive level with shift resets."""

    name = "mseason"
    min_obs = 8

    def __init__(self) -> None:
        super().__init__()
        self.used_periods: tuple[int, ...] = ()
        self.profiles: list[FloatArray] = []
        self.alpha = 0.2
        self.level = 0.0
        self.scales: FloatArray = np.zeros(0)
        self.recent: FloatArray = np.zeros((0, 0))  # k-step errors over the recent window
        self.shift_reset = False
        self.weekly = WeeklyCorrection()

    def _seasons(self, y: FloatArray) -> FloatArray:
        usable = sorted({p for p in self.periods if p >= 2 and 2 * p <= y.size})
        # a longer period needs EXTRA_CYCLES: with two, its moving-average trend covers
        # only the middle of the data and the ends' drift lands in the profile
        usable = usable[:1] + [p for p in usable[1:] if EXTRA_CYCLES * p <= y.size]
        self.used_periods = tuple(usable)
        self.profiles = [np.zeros(p) for p in usable]
        if not usable:
            return np.zeros(y.size)
        smooth = max(1, round(usable[0] / SMOOTH_DIV))
        for _ in range(2):
            for i, p in enumerate(usable):
                x = y.copy()
                for j in range(len(usable)):
                    if j != i:
                        x -= self._tile(j, y.size)
                self.profiles[i] = _profile(x - _centred_mean(x, p), p, smooth)
        return np.asarray(sum(self._tile(j, y.size) for j in range(len(usable))), dtype=np.float64)

    def _tile(self, j: int, n: int) -> FloatArray:
        """Profile j laid over the last n samples (the last sample at phase p-1)."""
        prof = self.profiles[j]
        p = prof.size
        start = (-n) % p  # phase of the first of the n samples
        return np.asarray(np.resize(np.roll(prof, -start), n), dtype=np.float64)

    def _fit(self, y: FloatArray) -> None:
        longest = max((p for p in self.periods if 2 * p <= y.size), default=0)
        window = max(RECENT, RECENT_CYCLES * longest)
        week = 7 * min(self.periods, default=0)  # the weekly correction's longest cycle
        y = y[-max(window + MAX_STEPS, (MAX_CYCLES + 1) * longest, 2 * week) :]
        d = y - self._seasons(y)
        recent = slice(max(0, d.size - window - FIT_STEPS), None)
        best = (np.inf, self.alpha, np.zeros(0))
        for alpha in ALPHAS:
            lev = _ewma(d, alpha)
            err = _kstep_errors(d[recent], lev[recent], FIT_STEPS)
            score = float(np.nanmean(np.abs(err)))
            if score < best[0]:
                best = (score, alpha, lev)
        _, self.alpha, lev = best
        one = d[1:] - lev[:-1]
        self.residuals = np.r_[np.nan, one]
        self.level = float(lev[-1])
        self.shift_reset = False
        self._shift_reset(d, lev, one)
        shortest = self.used_periods[0] if self.used_periods else 0
        ds = smooth(d, max(1, round(shortest / SMOOTH_DIV)) | 1)
        self.weekly = WeeklyCorrection().fit(d, lev, ds, self.periods, shortest, MAX_STEPS)
        err = self.weekly.errors_at(d, lev, ds, recent.start or 0, MAX_STEPS).T
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows on short series
            self.scales = np.sqrt(np.nanmean(err**2, axis=1))
        self.scales = self.scales[np.isfinite(self.scales)]
        self.recent = err[: self.scales.size].T  # (origins, steps)

    def _shift_reset(self, d: FloatArray, lev: FloatArray, one: FloatArray) -> None:
        """Reset the level when the recent deseasonalised values sit apart from it.

        For run lengths r (longest first), the run is the last r values: its median
        (and its first half's) must be more than ``SHIFT_Z`` robust sd from the level
        before it, at least 90%
        of the run and all of its last ``SHIFT_RUN`` values must lie on that side.
        The first r that passes sets the level to the run's median.
        """
        tail = one[-RECENT:]
        mad = float(np.median(np.abs(tail - np.median(tail)))) * 1.4826
        if mad <= 0 or d.size < SHIFT_MAX + 2:
            return
        for r in SHIFT_RUNS:
            run = d[-r:]
            base = float(lev[-r - 1])
            mid = float(np.median(run))
            first = float(np.median(run[: r // 2]))
            if min(abs(mid - base), abs(first - base)) <= SHIFT_Z * mad:
                continue  # both halves of the run must sit at the new level
            side = np.sign(mid - base) * (run - base) > 0
            if np.mean(side) >= 0.9 and side[-SHIFT_RUN:].all():
                self.level = mid
                self.shift_reset = True
                return

    def recent_errors(self) -> tuple[FloatArray, FloatArray]:
        """(errors, scales), each (origins, steps): the k-step errors of the recent window.

        The level is causal (each forecast uses only the data before it); the profiles
        are medians over up to ``MAX_CYCLES`` cycles, so one point barely moves them.
        The forecaster calibrates intervals on these when the model stands alone;
        the origins are thinned evenly to at most ``CALIBRATION_ORIGINS``.
        """
        stride = max(1, -(-self.recent.shape[0] // CALIBRATION_ORIGINS))
        errors = self.recent[::-1][::stride][::-1]  # thinned, keeping the newest origin
        scales = np.broadcast_to(self.scales, errors.shape)
        return errors, np.asarray(scales, dtype=np.float64)

    def compact(self) -> None:
        super().compact()
        self.recent = np.zeros((0, 0))

    def tail_needed(self) -> tuple[int, int]:
        return 0, 0

    def forecast(self, h: int) -> FloatArray:
        out = np.full(h, self.level)
        for prof in self.profiles:
            out += np.resize(prof, h)
        if not self.shift_reset:  # after a reset the level already sits at the new value
            out += self.weekly.forecast(h)
        return out

    def sigma(self, h: int) -> FloatArray:
        s = self.scales
        if s.size == 0:
            return super().sigma(h)
        k = np.arange(1, h + 1, dtype=np.float64)
        out = s[-1] * np.sqrt(k / s.size)
        out[: min(h, s.size)] = s[:h]
        return np.asarray(out, dtype=np.float64)
