"""ARIMA(p,d,q)(P,D,Q)_m fitted by conditional sum of squares, order by AICc.

Fitting: difference ``d`` times and seasonally ``D`` times, remove the mean when no
differencing is done, then minimise the conditional sum of squares of the ARMA
innovations with Levenberg-Marquardt; the innovations of given coefficients are one
``scipy.signal.lfilter`` call (AR polynomial over MA polynomial), so each evaluation
is a C pass over the data. A fit whose AR part is not stationary or whose MA part is
not invertible is rejected.

Order choice (``order=None``): ``d`` from KPSS tests (5%), ``D = 1`` when a period is
given and its seasonal strength exceeds 0.64 (the rule statsforecast uses); then
``(p, q)`` over 0..2 x 0..2 with the seasonal part set to (0,1) when ``D = 1``, then
``(P, Q)`` in {(0,0), (1,0), (0,1)} for the best ``(p, q)``: eleven fits, lowest AICc,
on the last ``SEARCH_WINDOW`` observations; the winner is re-estimated on the last
``FIT_WINDOW`` ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares, leastsq
from scipy.signal import lfilter, lfiltic

from ._base import FloatArray, Model
from ._errors import FitError

__all__ = ["ARIMA", "kpss_stat", "ndiffs", "seasonal_strength"]

_KPSS_5PCT = 0.463
FIT_WINDOW = 1000  # at least; ten seasonal cycles when the period is longer
SEARCH_WINDOW = 1000  # the order search's window (at least six cycles)
LSQ_TOL = 1e-6  # relative: coefficients to about six digits, far below their standard errors
MAX_SEASON = 168
_FITTED = ("order", "seasonal_order", "coef", "aicc", "residuals", "full_ar", "full_ma", "mu", "m")


def kpss_stat(y: FloatArray) -> float:
    """KPSS level-stationarity statistic with Newey-West long-run variance."""
    n = y.size
    e = y - y.mean()
    s = np.cumsum(e)
    lags = int(3 * np.sqrt(n) / 13)
    lrv = float(e @ e) / n
    for k in range(1, lags + 1):
        lrv += 2 * (1 - k / (lags + 1)) * float(e[k:] @ e[:-k]) / n
    return float(np.sum(s * s) / (n * n * max(lrv, 1e-300)))


def ndiffs(y: FloatArray, max_d: int = 2) -> int:
    d = 0
    x = y
    while d < max_d and x.size > 10 and np.ptp(x) > 0 and kpss_stat(x) > _KPSS_5PCT:
        x = np.diff(x)
        d += 1
    return d


def seasonal_strength(y: FloatArray, m: int) -> float:
    """1 - Var(remainder) / Var(season + remainder), classical decomposition."""
    if m < 2 or y.size < 2 * m + 1:
        return 0.0
    kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(y, kernel, mode="valid")
    off = (kernel.size - 1) // 2
    detr = y[off : off + trend.size] - trend
    phase = (np.arange(detr.size) + off) % m
    idx = np.bincount(phase, weights=detr, minlength=m) / np.maximum(np.bincount(phase), 1)
    rem = detr - idx[phase]
    total = float(np.var(detr))
    return 0.0 if total <= 0 else max(0.0, 1.0 - float(np.var(rem)) / total)


def _poly(coefs: FloatArray, sign: float, lag: int = 1) -> FloatArray:
    """1 + sign*(c1 B^lag + c2 B^2lag ...) as coefficients in B."""
    out = np.zeros(lag * coefs.size + 1)
    out[0] = 1.0
    out[lag::lag] = sign * coefs
    return out


def _roots_ok(poly: FloatArray, lag: int = 1) -> bool:
    """All roots of the lag polynomial outside the unit circle (with a small margin).

    For a seasonal factor given in z = B^lag, |B| > 1 + margin is |z| > (1 + margin)^lag:
    checking the factor in z is the same test without the degree-lag polynomial's roots.
    """
    trimmed = np.trim_zeros(poly, "b")
    if trimmed.size <= 1:
        return True
    return bool(np.all(np.abs(np.roots(trimmed[::-1])) > (1.0 + 1e-3) ** lag))


class ARIMA(Model):
    """Seasonal ARIMA; ``order=None`` chooses orders automatically (see module doc)."""

    name = "arima"
    min_obs = 8

    def __init__(
        self,
        order: tuple[int, int, int] | None = None,
        seasonal_order: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        super().__init__()
        self.order = order
        self.seasonal_order = seasonal_order
        self.coef: FloatArray | None = None
        self.warm_start: FloatArray | None = None
        self.aicc = np.inf

    def min_samples(self, periods: Sequence[int]) -> int:
        return self.min_obs

    # -- one fixed order ---------------------------------------------------------
    def _polys(self, coef: FloatArray) -> tuple[FloatArray, FloatArray]:
        assert self.order is not None
        p, _, q = self.order
        sp, _, sq = self.seasonal_order
        m = self.m
        i = 0
        ar = _poly(coef[i : i + p], -1.0)
        i += p
        ma = _poly(coef[i : i + q], 1.0)
        i += q
        ar = np.convolve(ar, _poly(coef[i : i + sp], -1.0, m))
        i += sp
        ma = np.convolve(ma, _poly(coef[i : i + sq], 1.0, m))
        return ar, ma

    def _difference(self, y: FloatArray) -> FloatArray:
        assert self.order is not None
        w = y
        for _ in range(self.order[1]):
            w = np.diff(w)
        for _ in range(self.seasonal_order[1]):
            w = w[self.m :] - w[: -self.m]
        return w

    def _innovations(self, coef: FloatArray, w: FloatArray) -> FloatArray:
        ar, ma = self._polys(coef)
        return np.asarray(lfilter(ar, ma, w - self.mu), dtype=np.float64)

    def _admissible(self, coef: FloatArray) -> bool:
        # The roots of a product are its factors' roots: each factor is checked on its
        # own, the seasonal ones in B^m (a degree-1 or 2 polynomial, not degree m or 2m).
        assert self.order is not None
        p, _, q = self.order
        sp, _, sq = self.seasonal_order
        parts = np.split(coef, np.cumsum([p, q, sp]))
        return (
            _roots_ok(_poly(parts[0], -1.0))
            and _roots_ok(_poly(parts[1], 1.0))
            and _roots_ok(_poly(parts[2], -1.0), self.m)
            and _roots_ok(_poly(parts[3][:sq], 1.0), self.m)
        )

    def _fit_order(self, y: FloatArray) -> None:
        assert self.order is not None
        p, d, q = self.order
        sp, sd, sq = self.seasonal_order
        w = self._difference(y)
        self.mu = float(w.mean()) if d + sd == 0 else 0.0
        burn = p + sp * self.m
        k = p + q + sp + sq
        if w.size - burn <= k + 2:
            raise FitError(f"arima{self.order}: too few observations after differencing")
        if self.coef is None:
            tail = w[-max(FIT_WINDOW, 10 * self.m) :]
            if k == 0:
                self.coef = np.zeros(0)
            else:
                start = np.full(k, 0.1) if self.warm_start is None else self.warm_start

                def resid(c: FloatArray) -> FloatArray:
                    return self._innovations(c, tail)[burn:]

                # MINPACK's Levenberg-Marquardt with its own finite differences: the
                # same method as least_squares(method="lm") without a Python-level
                # Jacobian routine around every step.
                with warnings.catch_warnings():  # reaching maxfev: keep where it got
                    warnings.simplefilter("ignore", RuntimeWarning)
                    found = leastsq(
                        resid, start, ftol=LSQ_TOL, xtol=LSQ_TOL, maxfev=100 * k * (k + 1)
                    )
                self.coef = np.asarray(found[0], dtype=np.float64).reshape(k)
                if not self._admissible(self.coef):
                    # Typically a seasonal MA drifting to -1 (a deterministic season):
                    # once more inside the box |c| < 0.98, which keeps single terms
                    # invertible and stationary.
                    start = np.clip(start, -0.9, 0.9)
                    box = (np.full(k, -0.98), np.full(k, 0.98))
                    self.coef = np.asarray(least_squares(resid, start, bounds=box).x)
        if not self._admissible(self.coef):
            raise FitError(f"arima{self.order}: non-stationary or non-invertible fit")
        ar, ma = self._polys(self.coef)
        e = self._innovations(self.coef, w)
        e[:burn] = 0.0
        n_eff = w.size - burn
        sse = float(np.sum(e[burn:] ** 2))
        npar = k + 1 + int(d + sd == 0)
        self.aicc = n_eff * np.log(max(sse, 1e-300) / n_eff) + 2 * npar
        self.aicc += 2 * npar * (npar + 1) / max(n_eff - npar - 1, 1)
        self.residuals = np.r_[np.zeros(y.size - w.size), e]
        # Full lag polynomials in terms of y (differencing folded into the AR side).
        full_ar = ar
        for _ in range(d):
            full_ar = np.convolve(full_ar, [1.0, -1.0])
        for _ in range(sd):
            full_ar = np.convolve(full_ar, _poly(np.ones(1), -1.0, self.m))
        self.full_ar, self.full_ma = full_ar, ma

    # -- order search -----------------------------------------------------------
    def _fit(self, y: FloatArray) -> None:
        m = self.periods[0] if self.periods else 0
        self.m = m if 2 <= m <= MAX_SEASON and y.size >= 3 * m else 1
        if self.order is not None:
            if self.m == 1:
                self.seasonal_order = (0, 0, 0)
            self._fit_order(y)
            return
        seasonal = self.m > 1
        x = y[-max(FIT_WINDOW, 10 * self.m) :]
        sd = int(seasonal and seasonal_strength(x, self.m) > 0.64)
        if sd:
            x = x[self.m :] - x[: -self.m]
        d = ndiffs(x)
        base_seasonal = (0, sd, 1) if sd else (0, 0, 0)
        # The order search sees a shorter recent window; the winner is then
        # re-estimated on the whole fitting window, warm-started.
        search = y[-max(SEARCH_WINDOW, 6 * self.m) :]
        best: ARIMA | None = None
        for p in range(3):
            for q in range(3):
                best = self._try(search, (p, d, q), base_seasonal, best)
        if seasonal and best is not None and best.order is not None:
            order = best.order
            for sp, sq in ((0, 0), (1, 0), (0, 1)):
                best = self._try(search, order, (sp, sd, sq), best)
        if best is None:
            raise FitError("arima: no order could be fitted")
        if search.size < y.size:
            wider = ARIMA(best.order, best.seasonal_order)
            wider.warm_start, wider.periods, wider.m = best.coef, self.periods, self.m
            try:
                wider._fit_order(y)
                best = wider
            except FitError:
                pass  # keep the search fit: it was admissible
        for attr in _FITTED:
            setattr(self, attr, getattr(best, attr))

    def _try(
        self,
        y: FloatArray,
        order: tuple[int, int, int],
        seasonal_order: tuple[int, int, int],
        best: ARIMA | None,
    ) -> ARIMA | None:
        if best is not None and best.order == order and best.seasonal_order == seasonal_order:
            return best
        cand = ARIMA(order, seasonal_order)
        cand.periods = self.periods
        cand.m = self.m
        try:
            cand._fit_order(y)
        except (FitError, np.linalg.LinAlgError, ValueError):
            return best
        return cand if best is None or cand.aicc < best.aicc else best

    def refit(self, y: FloatArray) -> ARIMA:
        """These orders and coefficients run over ``y`` (no search): for backtests."""
        twin = ARIMA(self.order, self.seasonal_order)
        twin.coef = self.coef
        twin.fit(y, self.periods)
        return twin

    def reestimate(self, y: FloatArray) -> ARIMA:
        """These orders with coefficients re-estimated on ``y`` (warm-started, no search)."""
        twin = ARIMA(self.order, self.seasonal_order)
        twin.warm_start = self.coef
        twin.fit(y, self.periods)
        return twin

    # -- forecasting -------------------------------------------------------------
    def tail_needed(self) -> tuple[int, int]:
        return self.full_ar.size, self.full_ma.size

    def forecast(self, h: int) -> FloatArray:
        ar, ma = self.full_ar, self.full_ma
        p, q = ar.size - 1, ma.size - 1
        # Future errors are zero, so the MA side only feeds known residuals into the
        # first q steps; the AR recursion is then one lfilter started from the past.
        drive = np.zeros(h)
        e = self.residuals
        for k in range(1, min(h, q) + 1):
            past = e[e.size - 1 - (q - k) : e.size] if q - k < e.size else e
            drive[k - 1] = float(ma[k : k + past.size] @ past[::-1])
        if p == 0:
            return drive + self.mu
        past_y = (self.last[-p:] - self.mu)[::-1]
        zi = lfiltic([1.0], ar, past_y)
        out, _ = lfilter([1.0], ar, drive, zi=zi)
        return np.asarray(out, dtype=np.float64) + self.mu

    def sigma(self, h: int) -> FloatArray:
        impulse = np.zeros(h)
        impulse[0] = 1.0
        psi = lfilter(self.full_ma, self.full_ar, impulse)
        return np.sqrt(self.sigma2 * np.cumsum(psi**2))
