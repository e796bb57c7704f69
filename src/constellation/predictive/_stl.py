"""STL and MSTL decomposition (Cleveland et al. 1990; Bandara et al. 2021).

``stl(y, m)`` splits a regular series into trend + season + remainder with the STL
inner loop: cycle-subseries LOESS smoothing, a low-pass filter (moving averages of
m, m and 3 then LOESS) removed from it, then LOESS on the deseasonalized series for
the trend; two inner passes, no robustness passes. LOESS is local-linear with
tricube weights on equally spaced points, so it is a fixed linear filter in the
interior (one convolution) and a small precomputed matrix at each edge. Two
simplifications against the reference Fortran: the cycle-subseries are extended by
repeating the first/last cycle (not by LOESS extrapolation) and the span's distance
scale is the window's half-width plus one. ``mstl`` runs STL per period, shortest
first, twice over, as MSTL does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._base import FloatArray

__all__ = ["loess", "mstl", "stl"]


def _odd(x: float) -> int:
    k = int(np.ceil(x))
    return k if k % 2 else k + 1


def _local_linear_rows(positions: FloatArray, window: int, scale: FloatArray) -> FloatArray:
    """Row i: weights that give the local-linear fit at positions[i] from x = 0..window-1."""
    x = np.arange(window, dtype=np.float64)
    d = np.abs(x[None, :] - positions[:, None]) / scale[:, None]
    w = np.clip(1 - d**3, 0, None) ** 3
    sw = w.sum(axis=1, keepdims=True)
    xbar = (w @ x)[:, None] / sw
    sxx = (w * (x[None, :] - xbar) ** 2).sum(axis=1, keepdims=True)
    slope_part = (positions[:, None] - xbar) * (x[None, :] - xbar) / np.maximum(sxx, 1e-12)
    return np.asarray(w * (1.0 / sw + slope_part), dtype=np.float64)


@lru_cache(maxsize=256)
def _operators(q: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(interior kernel, left-edge rows, right-edge rows) for span q (odd)."""
    half = q // 2
    scale = np.full(1, half + 1.0)
    kernel = _local_linear_rows(np.array([float(half)]), q, scale)[0]
    pos = np.arange(half, dtype=np.float64)
    left = _local_linear_rows(pos, q, np.maximum(q - 1 - pos, half) + 1.0)
    right = left[::-1, ::-1].copy()
    return kernel, left, right


def loess(y: FloatArray, q: int) -> FloatArray:
    """Local-linear tricube LOESS of span ``q`` along axis 0 (1-D or 2-D ``y``)."""
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    q = min(_odd(q), n if n % 2 else n - 1)
    if q < 3:
        return y.copy()
    kernel, left, right = _operators(q)
    windows = sliding_window_view(y, q, axis=0)  # (n - q + 1, ..., q)
    interior = windows @ kernel
    return np.concatenate([left @ y[:q], interior, right @ y[n - q :]], axis=0)


def _cycle_smooth(x: FloatArray, m: int, ns: int) -> FloatArray:
    """LOESS each cycle-subseries (phase) of x; returns the smoothed values in place order."""
    n = x.size
    full = n // m
    out = np.empty(n)
    head = x[: full * m].reshape(full, m)
    smooth = loess(head, ns) if full >= 3 else head.copy()
    out[: full * m] = smooth.ravel()
    rest = n - full * m
    if rest:  # the partial last cycle: smooth those phases with one more point
        cols = np.vstack([head[:, :rest], x[full * m :][None, :]])
        out[full * m :] = (loess(cols, ns) if cols.shape[0] >= 3 else cols)[-1]
    return out


def _moving_average(x: FloatArray, k: int) -> FloatArray:
    c = np.cumsum(np.r_[0.0, x])
    return (c[k:] - c[:-k]) / k


def stl(
    y: FloatArray, m: int, ns: int = 7, trend: FloatArray | None = None, inner: int = 2
) -> tuple[FloatArray, FloatArray]:
    """(seasonal, trend) of ``y`` for period ``m``; remainder is y - seasonal - trend."""
    y = np.asarray(y, dtype=np.float64)
    nl = _odd(m)
    nt = _odd(1.5 * m / (1 - 1.5 / _odd(ns)))
    t = np.zeros_like(y) if trend is None else trend
    season = np.zeros_like(y)
    for _ in range(inner):
        c = _cycle_smooth(y - t, m, _odd(ns))
        ext = np.r_[c[:m], c, c[-m:]]  # one cycle each side, so the low-pass keeps length n
        low = _moving_average(_moving_average(_moving_average(ext, m), m), 3)
        low = loess(low, nl)
        season = c - low
        t = loess(y - season, nt)
    return season, t


def mstl(
    y: FloatArray, periods: tuple[int, ...], iterations: int = 2
) -> tuple[list[FloatArray], FloatArray]:
    """([seasonal per period], trend) by MSTL; periods are sorted, shortest first."""
    y = np.asarray(y, dtype=np.float64)
    periods = tuple(sorted(periods))
    seasons = [np.zeros_like(y) for _ in periods]
    trend = np.zeros_like(y)
    for _ in range(iterations):
        for i, m in enumerate(periods):
            others = sum((s for j, s in enumerate(seasons) if j != i), np.zeros_like(y))
            seasons[i], trend = stl(y - others, m, ns=7 + 4 * i)
    return seasons, trend
