"""The statistical detectors: zscore, moving_average, iqr, mad and threshold.

What ``sensitivity`` means for each (the score is compared with it):

==============  ====================================================================
zscore          k standard deviations from the rolling (or EW) mean
moving_average  k standard deviations of the one-step forecast error from a Holt
                (level + trend) exponentially weighted moving average
iqr             (k - 0.6745) / 1.349 IQRs beyond the nearer quartile (k=2.698: Tukey's 1.5)
mad             k x 1.4826 MAD from the rolling median (1.4826 MAD = sigma if normal)
threshold       the hard upper limit itself (the score is the excess over the limits)
==============  ====================================================================
"""

from __future__ import annotations

import math

from ..errors import ValidationError
from ._base import MAX_SCORE, Baseline, Detector, check_finite, deviation_score
from ._windows import EwmMoments, RollingMoments, SortedWindow

__all__ = ["IQR", "MAD", "MovingAverage", "Threshold", "ZScore", "_robust_sigma"]

_MAD_TO_SIGMA = 1.4826
_IQR_TO_SIGMA = 1.349  # the IQR of a normal distribution, in sigmas
_Q3_IN_SIGMA = 0.6745


def _check_window(window: int | None, low: int = 3) -> int | None:
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, int) or window < low:
        raise ValidationError("window", f"{window!r} is out of range; expected an integer >= {low}")
    return window


def _check_alpha(alpha: float) -> float:
    if not 0 < check_finite("alpha", alpha) <= 1:
        raise ValidationError("alpha", f"{alpha!r} is out of range; expected 0 < alpha <= 1")
    return float(alpha)


def _robust_sigma(robust: float, std: float) -> float:
    """A robust spread (MAD, IQR), or the std where the robust one collapsed to (almost) 0
    because most values are identical (a spread of rounding noise would flag everything)."""
    return robust if robust >= 1e-3 * std else std


class ZScore(Detector):
    """Distance from the mean in standard deviations, over a rolling window or EW.

    ``window`` values (default 1000) or, with ``alpha``, exponentially weighted moments.
    """

    method = "zscore"

    def __init__(
        self, window: int | None = 1000, alpha: float | None = None, warmup: int = 30
    ) -> None:
        super().__init__()
        self.warmup = warmup
        self._stats: RollingMoments | EwmMoments = (
            EwmMoments(_check_alpha(alpha))
            if alpha is not None
            else RollingMoments(_check_window(window))
        )

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._stats.add(x)
        self.n_seen += 1

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.n_seen == 0:
            return 0.0
        return deviation_score(self._stats.deviation(x), 0.0, self._stats.std)

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self.n_seen == 0:
            return None
        mean, spread = self._stats.mean, sensitivity * self._stats.std
        return Baseline(mean, mean - spread, mean + spread)


class MovingAverage(Detector):
    """Deviation from a Holt (level + trend) EWMA forecast, in units of the forecast
    error's spread. ``alpha`` smooths the level, ``beta`` the trend (0 turns it off).

    The spread is the larger of the recent (EW) and the long-run (last ``window``
    errors) root mean square error: the EW one alone collapses on a quiet stretch and
    then flags ordinary movement (it took NAB's standard score from 25.8 to 39.7).
    """

    method = "moving_average"

    def __init__(
        self, alpha: float = 0.1, beta: float = 0.01, window: int = 1000, warmup: int = 30
    ) -> None:
        super().__init__()
        self.alpha = _check_alpha(alpha)
        self.beta = float(beta) if beta == 0 else _check_alpha(beta)
        self.warmup = warmup
        self._level = 0.0
        self._trend = 0.0
        self._errors = EwmMoments(self.alpha)
        self._long_errors = RollingMoments(_check_window(window) or 1000)

    @property
    def forecast(self) -> float:
        return self._level + self._trend

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self.n_seen == 0:
            self._level = x
        else:
            error = x - self.forecast
            self._errors.add(error)
            self._long_errors.add(error)
            previous = self._level
            self._level = self.forecast + self.alpha * error
            self._trend += self.beta * (self._level - previous - self._trend)
        self.n_seen += 1

    def _error_scale(self) -> float:
        # Errors average about 0; their root mean square is the spread to use.
        recent = math.sqrt(self._errors.variance + self._errors.mean**2)
        long_run = self._long_errors
        if len(long_run) < 2:
            return recent
        return max(recent, math.sqrt(long_run.variance + long_run.mean**2))

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.n_seen == 0:
            return 0.0
        return deviation_score(x, self.forecast, self._error_scale())

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self.n_seen == 0:
            return None
        centre, spread = self.forecast, sensitivity * self._error_scale()
        return Baseline(centre, centre - spread, centre + spread)


class IQR(Detector):
    """Distance beyond the nearer quartile in interquartile ranges, over a rolling window."""

    method = "iqr"
    protect = False  # quartiles already ignore outliers; a frequent value must be learnt

    def __init__(self, window: int = 1000, warmup: int = 30) -> None:
        super().__init__()
        self.warmup = warmup
        self._window = SortedWindow(_check_window(window) or 1000)
        self._moments = RollingMoments(self._window.window)

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._window.add(x)
        self._moments.add(x)
        self.n_seen += 1

    def _iqr(self) -> float:
        # Mostly identical values give an IQR of 0: fall back to the std's equivalent.
        q1, q3 = self._window.quantile(0.25), self._window.quantile(0.75)
        return _robust_sigma(q3 - q1, _IQR_TO_SIGMA * self._moments.std)

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.n_seen == 0:
            return 0.0
        q1, q3 = self._window.quantile(0.25), self._window.quantile(0.75)
        if q1 <= x <= q3:
            return 0.0
        edge = q3 if x > q3 else q1
        return deviation_score(x, edge, self._iqr())

    def confidence(self, score: float) -> float:
        # k IQRs beyond Q3 is 0.6745 + 1.349 k sigmas for normal data.
        return super().confidence(_Q3_IN_SIGMA + _IQR_TO_SIGMA * score) if score > 0 else 0.0

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self.n_seen == 0:
            return None
        q1, q3 = self._window.quantile(0.25), self._window.quantile(0.75)
        # sensitivity is in sigmas (see _sensitivity): k sigmas = (k - 0.6745) / 1.349 IQRs
        fence = max(0.0, (sensitivity - _Q3_IN_SIGMA) / _IQR_TO_SIGMA) * self._iqr()
        return Baseline(self._window.median, q1 - fence, q3 + fence)


class MAD(Detector):
    """Distance from the rolling median in units of 1.4826 x the median absolute deviation."""

    method = "mad"
    protect = False  # the median and MAD already ignore outliers; frequent values must be learnt

    def __init__(self, window: int = 1000, warmup: int = 30) -> None:
        super().__init__()
        self.warmup = warmup
        self._window = SortedWindow(_check_window(window) or 1000)
        self._moments = RollingMoments(self._window.window)

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._window.add(x)
        self._moments.add(x)
        self.n_seen += 1

    def _sigma(self, median: float | None = None) -> float:
        # More than half the values identical gives a MAD of 0: fall back to the std.
        return _robust_sigma(_MAD_TO_SIGMA * self._window.mad(median), self._moments.std)

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.n_seen == 0:
            return 0.0
        median = self._window.median
        return deviation_score(x, median, self._sigma(median))

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self.n_seen == 0:
            return None
        median, spread = self._window.median, sensitivity * self._sigma()
        return Baseline(median, median - spread, median + spread)


class Threshold(Detector):
    """Hard limits: the score is how far a value lies beyond ``upper`` or below ``lower``.

    Wrap it in ``ThresholdFilter(detector, 0.0)``: any excess is an anomaly. It needs
    no history (``warmup`` 0) and learns nothing.
    """

    method = "threshold"

    def __init__(self, upper: float | None = None, lower: float | None = None) -> None:
        super().__init__()
        if upper is None and lower is None:
            raise ValidationError("upper", "set upper, lower or both")
        self.upper = None if upper is None else check_finite("upper", upper)
        self.lower = None if lower is None else check_finite("lower", lower)
        if self.upper is not None and self.lower is not None and self.lower > self.upper:
            raise ValidationError("lower", f"{lower!r} is above upper {upper!r}")

    def learn_one(self, x: float, t: float | None = None) -> None:
        self.n_seen += 1

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.upper is not None and x > self.upper:
            return min(x - self.upper, MAX_SCORE)
        if self.lower is not None and x < self.lower:
            return min(self.lower - x, MAX_SCORE)
        return 0.0

    def confidence(self, score: float) -> float:
        return 1.0 if score > 0 else 0.0

    def baseline(self, sensitivity: float) -> Baseline | None:
        low = -math.inf if self.lower is None else self.lower
        high = math.inf if self.upper is None else self.upper
        centre = (
            (low + high) / 2
            if math.isfinite(low + high)
            else (high if math.isfinite(high) else low)
        )
        return Baseline(centre, low, high)
