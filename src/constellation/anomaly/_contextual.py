"""Detectors for the anomaly types beyond "a value outside its range".

* :class:`RateChange`: a sudden spike or drop, i.e. a change between consecutive values
  far outside the usual changes (robust: median and MAD of recent changes);
* :class:`Pattern`: a value unlike what the same hour of the day (or of the week)
  usually shows: one set of EW moments per seasonal slot;
* :class:`Correlation`: two metrics that move together (requests and CPU) stop doing so:
  the residual of a rolling linear fit of one on the other, in residual deviations.
"""

from __future__ import annotations

import math

from ..errors import ValidationError
from ._base import Baseline, Detector, deviation_score
from ._statistical import _check_alpha, _check_window, _robust_sigma
from ._windows import EwmMoments, RollingMoments, SortedWindow

__all__ = ["Correlation", "Pattern", "RateChange"]

_MAD_TO_SIGMA = 1.4826
_PERIODS = {"day": 86_400, "week": 7 * 86_400}


class RateChange(Detector):
    """The change from the previous value, in robust deviations of recent changes."""

    method = "rate_change"
    protect = False  # robust (median, MAD) already; a frequent kind of change must be learnt

    def __init__(self, window: int = 500, warmup: int = 30) -> None:
        super().__init__()
        self.warmup = warmup
        self._changes = SortedWindow(_check_window(window) or 500)
        self._moments = RollingMoments(self._changes.window)
        self._last: float | None = None

    def _sigma(self) -> float:
        # Mostly identical changes give a MAD of 0: fall back to their std.
        return _robust_sigma(_MAD_TO_SIGMA * self._changes.mad(), self._moments.std)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._last is not None:
            self._changes.add(x - self._last)
            self._moments.add(x - self._last)
        self._last = x
        self.n_seen += 1

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._last is None or len(self._changes) == 0:
            return 0.0
        return deviation_score(x - self._last, self._changes.median, self._sigma())

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self._last is None or len(self._changes) == 0:
            return None
        centre = self._last + self._changes.median
        spread = sensitivity * self._sigma()
        return Baseline(centre, centre - spread, centre + spread)


class Pattern(Detector):
    """Deviation from what the same hour of the ``period`` ("day" or "week") usually shows.

    Needs timestamps (unix seconds; hours are UTC). Each of the 24 (or 168) hourly slots
    keeps EW moments with smoothing ``alpha``; a slot scores once it has seen
    ``warmup`` values.
    """

    method = "pattern"

    def __init__(self, period: str = "day", alpha: float = 0.05, warmup: int = 10) -> None:
        super().__init__()
        if period not in _PERIODS:
            raise ValidationError.choice("period", period, sorted(_PERIODS))
        self.period = period
        self.warmup = 0  # readiness is per slot, below
        self._slot_warmup = warmup
        self._alpha = _check_alpha(alpha)
        # A new value deviates from an EW mean by its own spread plus the mean's
        # (variance alpha / (2 - alpha) of one value's): without it, k "sigmas" flag
        # noticeably more than P(|Z| > k) of a normal stream.
        self._predictive = (1 + self._alpha / (2 - self._alpha)) ** 0.5
        self._slots: dict[int, EwmMoments] = {}
        self._last_slot: int | None = None

    def _slot(self, t: float | None) -> int:
        if t is None:
            raise ValidationError("timestamp", "the pattern detector needs a timestamp")
        return int(t % _PERIODS[self.period]) // 3600

    def learn_one(self, x: float, t: float | None = None) -> None:
        slot = self._slot(t)
        self._slots.setdefault(slot, EwmMoments(self._alpha)).add(x)
        self._last_slot = slot
        self.n_seen += 1

    def score_one(self, x: float, t: float | None = None) -> float:
        stats = self._slots.get(self._slot(t))
        if stats is None or stats.n < self._slot_warmup:
            return 0.0
        return deviation_score(stats.deviation(x), 0.0, stats.std * self._predictive)

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self._last_slot is None:
            return None
        stats = self._slots[self._last_slot]
        spread = sensitivity * stats.std * self._predictive
        return Baseline(stats.mean, stats.mean - spread, stats.mean + spread)


class Correlation:
    """Two metrics that usually move together: scores a pair ``(x, y)`` by how far ``y``
    lies from the rolling least-squares line ``y ~ a + b x``, in residual deviations.

    Also reports the rolling Pearson correlation (:attr:`correlation`). Pairs are the
    latest values of both metrics; O(1) per pair.
    """

    method = "correlation"

    def __init__(self, window: int = 500, warmup: int = 20) -> None:
        self.window = _check_window(window) or 500
        self.warmup = warmup
        self.n_seen = 0
        self._x = RollingMoments(self.window)
        self._y = RollingMoments(self.window)
        self._xy = RollingMoments(self.window)  # products of centred values
        self._residuals = RollingMoments(self.window)
        self._centre: tuple[float, float] | None = None

    @property
    def ready(self) -> bool:
        return self.n_seen >= self.warmup

    def _fit(self) -> tuple[float, float]:
        var_x = self._x.variance
        if var_x <= 0 or self._centre is None:
            return self._y.mean, 0.0
        cov = self._covariance()
        slope = cov / var_x
        return self._y.mean - slope * self._x.mean, slope

    def _covariance(self) -> float:
        assert self._centre is not None
        n = len(self._xy)
        if n < 2:
            return 0.0
        cx, cy = self._centre
        mean_x, mean_y = self._x.mean - cx, self._y.mean - cy
        return (self._xy.mean - mean_x * mean_y) * n / (n - 1)

    @property
    def correlation(self) -> float:
        if self._centre is None:
            return 0.0
        denom = self._x.std * self._y.std
        return max(-1.0, min(1.0, self._covariance() / denom)) if denom > 0 else 0.0

    def expected(self, x: float) -> float:
        intercept, slope = self._fit()
        return intercept + slope * x

    def learn_pair(self, x: float, y: float) -> None:
        if self._centre is None:
            self._centre = (x, y)
        if self.n_seen >= 2:
            self._residuals.add(y - self.expected(x))
        cx, cy = self._centre
        self._x.add(x)
        self._y.add(y)
        self._xy.add((x - cx) * (y - cy))
        self.n_seen += 1

    def score_pair(self, x: float, y: float) -> float:
        if not self.ready:
            return 0.0
        residual = y - self.expected(x)
        return deviation_score(self._residuals.deviation(residual), 0.0, self._residuals.std)

    def confidence(self, score: float) -> float:
        return math.erf(score / math.sqrt(2.0)) if score > 0 else 0.0

    def baseline(self, sensitivity: float, x: float) -> Baseline | None:
        if not self.ready:
            return None
        centre, spread = self.expected(x), sensitivity * self._residuals.std
        return Baseline(centre, centre - spread, centre + spread)
