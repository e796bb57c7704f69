"""The additive exponential-smoothing recursion, run as a linear filter.

With fixed parameters, additive ETS (simple, Holt, damped, Holt-Winters additive) is a
linear time-invariant system from the observations to the one-step forecasts::

    s_k = D s_{k-1} + g y_{k-1},   yhat_k = w' s_k,   D = F - g w'

so ``yhat`` is ``scipy.signal.lfilter`` of ``y`` (the transfer function of (D, g, w'))
plus the free response of the initial state. That runs in C: one pass over 10,000
samples costs about as much as a few hundred Python operations, which is what makes
fitting by numerical optimisation affordable. Final states are then rebuilt from the
errors with cumulative sums (also vectorized). ``tests/predictive/test_ets.py`` checks
it against the plain recursion.

State layout: ``[level, slope, s_{t}, s_{t-1}, ..., s_{t-m+1}]`` (slope and seasons
present only when the model has them).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from ._base import FloatArray

__all__ = ["AdditiveSpec", "horizon_weights", "run_filter", "state_forecast"]


class AdditiveSpec:
    """Matrices of one additive ETS model: trend (bool), damping ``phi``, period ``m``."""

    def __init__(
        self, alpha: float, beta: float, gamma: float, phi: float, trend: bool, m: int
    ) -> None:
        self.trend, self.m = trend, m
        k = 1 + int(trend) + m
        self.k = k
        w = np.zeros(k)
        g = np.zeros(k)
        w[0] = 1.0
        g[0] = alpha
        if trend:
            w[1] = phi
            g[1] = beta
        if m:
            w[k - 1] = 1.0
            g[1 + int(trend)] = gamma
        self.w, self.g = w, g
        self.phi = phi if trend else 0.0
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    @property
    def F(self) -> FloatArray:
        """The transition matrix (built on demand: the fast paths use its structure)."""
        k, m, trend = self.k, self.m, self.trend
        F = np.zeros((k, k))
        F[0, 0] = 1.0
        if trend:
            F[0, 1] = self.phi
            F[1, 1] = self.phi
        if m:
            j = 1 + int(trend)  # index of s_t
            F[j, k - 1] = 1.0  # s_{t+1} = s_{t+1-m} (+ gamma e)
            F[j + 1 : k, j : k - 1] = np.eye(m - 1)  # the others shift down
        return F


def _impulses(spec: AdditiveSpec, b: FloatArray) -> FloatArray:
    """w' F^i b[:, c] for i = 0..k-1 and each column c, in closed form from F's structure.

    The level carries the damped slope forward (sum of phi^1..phi^(i+1) times the
    slope) and the seasonal block is a rotation, so the season that reaches the
    output at step i is the one stored at position (m - 1 - i) mod m.
    """
    i = np.arange(spec.k)
    out = np.repeat(b[:1], spec.k, axis=0)
    if spec.trend:
        powers = np.cumsum(spec.phi ** (i + 1.0))
        out += powers[:, None] * b[1:2]
    if spec.m:
        out += b[1 + int(spec.trend) :][(spec.m - 1 - i) % spec.m]
    return out


def _times_char_poly(spec: AdditiveSpec, c: FloatArray) -> FloatArray:
    """The leading rows of det(zI - F) * c (columns are series in z^-1).

    det(zI - F) = (z - 1)(z - phi)(z^m - 1) since F is block triangular, so the
    product is three cheap differencing passes instead of a convolution.
    """
    out = c.copy()
    out[1:] -= c[:-1]
    if spec.trend:
        prev = out.copy()
        out[1:] -= spec.phi * prev[:-1]
    if spec.m:
        prev = out.copy()
        out[spec.m :] -= prev[: -spec.m]
    return out


def run_filter(spec: AdditiveSpec, y: FloatArray, s0: FloatArray) -> FloatArray:
    """One-step forecasts ``yhat`` of every ``y[k]`` given the initial state ``s0``.

    With G(z) = w'(zI - F)^-1 g and S(z) = w'(zI - F)^-1 s0, Sherman-Morrison gives
    w'(zI - D)^-1 g = G / (1 + G) and w'(zI - D)^-1 s0 = S / (1 + G); multiplying
    through by det(zI - F) turns both into polynomials built from the impulse
    responses w'F^j g and w'F^j s0 (no eigenvalues needed), and the initial
    state enters as lfilter's ``zi``, so a whole pass is one ``lfilter`` call.
    """
    k = spec.k
    cols = np.zeros((k + 1, 3))
    cols[0, 0] = 1.0  # column 0 becomes det(zI - F) itself
    cols[1:, 1:] = _impulses(spec, np.column_stack([spec.g, s0]))
    poly = _times_char_poly(spec, cols)
    den = poly[:, 0] + poly[:, 1]
    # The free response S/(1+G), delayed one step, is exactly the zero-input response
    # of lfilter's transposed direct form started from these delay-line values.
    out, _ = lfilter(poly[:, 1], den, y, zi=poly[1:, 2])
    return np.asarray(out, dtype=np.float64)


def final_state(spec: AdditiveSpec, s0: FloatArray, e: FloatArray) -> FloatArray:
    """State after the last observation, rebuilt from the one-step errors ``e``."""
    n = e.size
    s = np.empty(spec.k)
    if spec.trend:
        # b_k = phi b_{k-1} + beta e_k ; l_k = l_{k-1} + phi b_{k-1} + alpha e_k
        zi = np.array([spec.phi * s0[1]])
        b, _ = lfilter([spec.beta], [1.0, -spec.phi], e, zi=zi)
        b_prev = np.r_[s0[1], b[:-1]]
        s[0] = s0[0] + float(np.sum(spec.phi * b_prev + spec.alpha * e))
        s[1] = b[-1] if n else s0[1]
    else:
        s[0] = s0[0] + spec.alpha * float(np.sum(e))
    if spec.m:
        m, j = spec.m, 1 + int(spec.trend)
        # season for y[k] is the initial season of phase k % m plus gamma * its past errors
        seas0 = s0[j:][::-1]  # seas0[p] pairs with y[p]
        sums = np.bincount(np.arange(n) % m, weights=e, minlength=m)
        seas = seas0 + spec.gamma * sums  # phase p season after all data
        # newest first: s_{n-1}, s_{n-2}, ..., s_{n-m}; phase of y[n-1-i] is (n-1-i) % m
        s[j:] = seas[(n - 1 - np.arange(m)) % m]
    return s


def state_forecast(spec: AdditiveSpec, s: FloatArray, h: int) -> FloatArray:
    """Point forecasts 1..h from state ``s``."""
    steps = np.arange(1, h + 1)
    out = np.full(h, s[0])
    if spec.trend:
        phi = spec.phi
        damp = steps.astype(float) if phi == 1.0 else phi * (1 - phi**steps) / (1 - phi)
        out = out + damp * s[1]
    if spec.m:
        j = 1 + int(spec.trend)
        # y[n+i] pairs with s_{n+i-m} = s[j + m - 1 - (i % m)]
        out = out + s[j + spec.m - 1 - (np.arange(h) % spec.m)]
    return out


def horizon_weights(spec: AdditiveSpec, h: int) -> FloatArray:
    """Var(k-step error) / sigma^2 for k = 1..h: 1 + sum_{j<k} (w' F^{j-1} g)^2."""
    c = np.empty(max(h - 1, 0))
    v = spec.g.copy()
    F = spec.F
    for j in range(h - 1):
        c[j] = spec.w @ v
        v = F @ v
    return 1.0 + np.r_[0.0, np.cumsum(c**2)]
