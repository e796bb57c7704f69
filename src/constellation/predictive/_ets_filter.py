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
        F = np.zeros((k, k))
        w = np.zeros(k)
        g = np.zeros(k)
        F[0, 0] = 1.0
        w[0] = 1.0
        g[0] = alpha
        if trend:
            F[0, 1] = phi
            F[1, 1] = phi
            w[1] = phi
            g[1] = beta
        if m:
            j = 1 + int(trend)  # index of s_t
            F[j, k - 1] = 1.0  # s_{t+1} = s_{t+1-m} (+ gamma e)
            F[j + 1 : k, j : k - 1] = np.eye(m - 1)  # the others shift down
            w[k - 1] = 1.0
            g[j] = gamma
        self.F, self.w, self.g = F, w, g
        self.phi = phi if trend else 0.0
        self.alpha, self.beta, self.gamma = alpha, beta, gamma


def _impulse(spec: AdditiveSpec, b: FloatArray) -> FloatArray:
    """w' F^i b for i = 0..k-1, in closed form from F's structure.

    The level carries the damped slope forward (sum of phi^1..phi^(i+1) times the
    slope) and the seasonal block is a rotation, so the season that reaches the
    output at step i is the one stored at position (m - 1 - i) mod m.
    """
    i = np.arange(spec.k)
    out = np.full(spec.k, float(b[0]))
    if spec.trend:
        phi = spec.phi
        powers = np.cumsum(phi ** (i + 1.0))
        out = out + powers * float(b[1])
    if spec.m:
        season = np.asarray(b[1 + int(spec.trend) :], dtype=np.float64)
        out = out + season[(spec.m - 1 - i) % spec.m]
    return out


def _char_poly(spec: AdditiveSpec) -> FloatArray:
    """det(zI - F): F is block triangular, (z - 1)(z - phi)(z^m - 1)."""
    poly = np.array([1.0, -1.0])
    if spec.trend:
        poly = np.convolve(poly, [1.0, -spec.phi])
    if spec.m:
        poly = np.convolve(poly, np.r_[1.0, np.zeros(spec.m - 1), -1.0])
    return poly


def run_filter(spec: AdditiveSpec, y: FloatArray, s0: FloatArray) -> FloatArray:
    """One-step forecasts ``yhat`` of every ``y[k]`` given the initial state ``s0``.

    With G(z) = w'(zI - F)^-1 g and S(z) = w'(zI - F)^-1 s0, Sherman-Morrison gives
    w'(zI - D)^-1 g = G / (1 + G) and w'(zI - D)^-1 s0 = S / (1 + G); multiplying
    through by det(zI - F) turns both into polynomials built from the impulse
    responses w'F^j g and w'F^j s0 (no eigenvalues needed), and the initial
    state enters as lfilter's ``zi``, so a whole pass is one ``lfilter`` call.
    """
    a = _char_poly(spec)
    k = spec.k
    num_g = np.r_[0.0, np.convolve(a, _impulse(spec, spec.g))[:k]]
    num_s = np.r_[0.0, np.convolve(a, _impulse(spec, s0))[:k]]
    den = a + num_g
    # The free response S/(1+G), delayed one step, is exactly the zero-input response
    # of lfilter's transposed direct form started from these delay-line values.
    out, _ = lfilter(num_g, den, y, zi=num_s[1:])
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
    for j in range(h - 1):
        c[j] = spec.w @ v
        v = spec.F @ v
    return 1.0 + np.r_[0.0, np.cumsum(c**2)]
