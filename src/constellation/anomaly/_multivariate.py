"""Multivariate detectors: several metrics scored together, as one vector per step.

Incidents often show in several metrics at once (pressure, temperature, vibration and
current; latency, CPU and queue depth) while no metric alone leaves its usual range.
Both methods here learn the metrics' joint normal behaviour from an initial normal
period (``train`` vectors, default 400), then score each vector and keep adapting:

* ``pca``: principal component analysis with Hotelling's T-squared (distance inside
  the model's subspace) and the Q statistic (squared prediction error off it), the
  classic process-monitoring pair (Jackson and Mudholkar 1979).
* ``mset`` (in :mod:`._mset`): the multivariate state estimation technique (Gross et
  al. 1997): each vector is estimated as a similarity-weighted blend of a memory of
  normal vectors; the residual is scored by its Mahalanobis distance.

Shared steps: each metric is standardised by the training period's mean and standard
deviation, and the standardised vector is smoothed by an exponentially weighted moving
average (``smoothing``; a sensor's one-sample noise is not an incident). A missing or
NaN value takes what the model expects given the vector's other metrics, so a vector
with gaps is still scored.
After training, vectors judged normal update the model's mean and covariance with
weight ``adapt`` (a memory of about 1/adapt vectors), refitted every ``refit_every``
vectors, so slow drift becomes normal; anomalous vectors are kept out.

The score is in standard-deviation equivalents, like every method's (see
:mod:`._sensitivity`): each statistic is turned into the normal deviate of the same
tail probability under the model's Gaussian assumption (T-squared ~ chi-squared(k); Q
~ g chi-squared(h), Box 1954; the Wilson-Hilferty cube-root approximation), the larger
one is kept, and it is expressed two-sided. Cost per vector: a few small numpy
operations (O(d k) for PCA, O(d m) for MSET), plus an O(d^3) refit every
``refit_every`` vectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import cast

import numpy as np

from ..errors import ValidationError
from ._base import MAX_SCORE

__all__ = [
    "PCA",
    "MultivariateDetector",
    "MultivariateFilter",
    "check_int",
    "check_rate",
    "chi2_quantile",
    "normalised_shares",
    "two_sided",
    "wilson_hilferty",
]

_LN4 = 2 * math.log(2.0)
_PcaSeen = tuple[bool, np.ndarray, np.ndarray, np.ndarray]


def wilson_hilferty(x: float, dof: float) -> float:
    """The one-sided normal deviate of a chi-squared(dof) value ``x``."""
    if x <= 0 or dof <= 0:
        return -math.inf
    c = 2.0 / (9.0 * dof)
    return ((x / dof) ** (1.0 / 3.0) - (1.0 - c)) / math.sqrt(c)


def chi2_quantile(p: float, dof: float) -> float:
    """The chi-squared(dof) quantile of probability ``p`` (Wilson-Hilferty)."""
    z = NormalDist().inv_cdf(p)
    c = 2.0 / (9.0 * dof)
    return float(dof * max(1.0 - c + z * math.sqrt(c), 0.0) ** 3)


def two_sided(z: float) -> float:
    """The two-sided deviate as rare as the one-sided ``z`` (tails: 2 phi(k)/k = phi(z)/z)."""
    return min(math.sqrt(z * z + _LN4), MAX_SCORE) if z > 0 else 0.0


def check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValidationError(name, f"{value!r} is out of range; expected an int >= {low}")
    return value


def check_rate(name: str, value: object, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= 1:
        raise ValidationError(name, f"{value!r} is out of range; expected {low}-1")
    return float(value)


class MultivariateDetector:
    """Shared machinery: standardise, smooth, train, adapt. Subclasses fit and score.

    River-style steps on a vector ``x`` (a sequence of floats, NaN for missing):
    ``score_one(x)`` (no state change), ``learn_one(x)`` (smooth and learn) and
    ``skip_one(x)`` (smooth only: an anomalous vector kept out of the model).
    """

    method = ""

    def __init__(
        self,
        n_metrics: int,
        train: int = 400,
        smoothing: float = 0.2,
        adapt: float = 0.002,
        refit_every: int = 50,
    ) -> None:
        self.d = check_int("metrics", n_metrics, 2)
        self.train = check_int("train", train, 2 * self.d + 10)
        self.smoothing = check_rate("smoothing", smoothing, 0.001)
        self.adapt = check_rate("adapt", adapt)
        self.refit_every = check_int("refit_every", refit_every, 1)
        self.n_seen = 0
        self._raw: list[np.ndarray] = []  # the training period, raw (dropped once fitted)
        self._mu = np.zeros(self.d)
        self._sd = np.ones(self.d)
        self._state: np.ndarray | None = None  # the smoothed, standardised vector
        self._mean = np.zeros(self.d)  # of smoothed vectors (adapted)
        self._cov = np.eye(self.d)
        self._since_fit = 0
        self._fitted = False
        self._last_raw = np.full(self.d, np.nan)
        # (the raw vector, its smoothed vector, score, what the score saw for contributions)
        self._cache: tuple[bytes, np.ndarray, float, object] | None = None

    @property
    def ready(self) -> bool:
        return self._fitted

    @property
    def warmup(self) -> int:
        return self.train

    # -- the shared steps -------------------------------------------------------------
    def _vector(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=float)
        if v.shape != (self.d,):
            raise ValidationError("value", f"expected {self.d} values, got shape {v.shape}")
        return v

    def _smoothed(self, v: np.ndarray) -> np.ndarray:
        """The next smoothed, standardised vector (missing values keep the last)."""
        z = (v - self._mu) / self._sd
        missing = np.isnan(z)
        if self._state is None:
            return np.where(missing, 0.0, z)
        step = self._state + self.smoothing * (z - self._state)
        if not missing.any():
            return step
        # A missing metric takes the value the model expects given the others (a few
        # fixed-point rounds from its last value), so a gap does not look like a break.
        filled = np.where(missing, self._state, step)
        return self._fill(filled, missing) if self._fitted else filled

    def _fill(self, filled: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """``filled`` with its ``missing`` metrics replaced by the model's expectation."""
        for _ in range(3):
            filled = np.where(missing, self._estimate(filled), filled)
        return filled

    def _score(self, v: np.ndarray) -> tuple[np.ndarray, float, object]:
        key = v.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2], self._cache[3]
        s = self._smoothed(v)
        score, seen = self._score_smoothed(s) if self._fitted else (0.0, None)
        self._cache = (key, s, score, seen)
        return s, score, seen

    def score_one(self, x: Sequence[float] | np.ndarray) -> float:
        """How unusual ``x`` is, in standard-deviation equivalents (0 while training)."""
        return self._score(self._vector(x))[1]

    def contributions(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """Each metric's share (0-1, summing to 1) of ``x``'s score (call before
        learning ``x``; computed only when asked, i.e. for anomalous vectors)."""
        _, _, seen = self._score(self._vector(x))
        if seen is None:
            return np.full(self.d, 1.0 / self.d)
        return normalised_shares(self._weights(seen))

    def learn_one(self, x: Sequence[float] | np.ndarray) -> None:
        v = self._vector(x)
        s, _, _ = self._score(v)
        self._advance(v, s)
        if not self._fitted:
            self._raw.append(v)
            if len(self._raw) >= self.train:
                self._initial_fit()
            return
        self._adapt(s)

    def _adapt(self, s: np.ndarray) -> None:
        """Exponentially weighted mean and covariance update, refitted now and then."""
        a = self.adapt
        d = s - self._mean
        self._mean += a * d
        self._cov *= 1 - a
        self._cov += (a * (1 - a)) * np.outer(d, d)
        self._since_fit += 1
        if self._since_fit >= self.refit_every:
            self._refit()
            self._since_fit = 0

    def skip_one(self, x: Sequence[float] | np.ndarray) -> None:
        """Move the smoothing on without learning ``x`` (an anomalous vector)."""
        v = self._vector(x)
        s, _, _ = self._score(v)
        self._advance(v, s)

    def _advance(self, v: np.ndarray, s: np.ndarray) -> None:
        self._state = s
        self._last_raw = np.where(np.isnan(v), self._last_raw, v)
        self._cache = None
        self.n_seen += 1

    def _initial_fit(self) -> None:
        raw = np.vstack(self._raw)
        self._raw = []
        mu = np.nanmean(raw, axis=0)
        sd = np.nanstd(raw, axis=0)
        self._mu = np.where(np.isnan(mu), 0.0, mu)
        self._sd = np.where(np.isnan(sd) | (sd <= 1e-12), 1.0, sd)
        # Replay the training period standardised and smoothed, as it will be scored.
        self._state = None
        smoothed = []
        for v in raw:
            s = self._smoothed(v)
            self._state = s
            smoothed.append(s)
        data = np.vstack(smoothed)
        self._fit_training(data)
        self._mean = data.mean(axis=0)
        self._cov = np.cov(data.T) + 1e-9 * np.eye(self.d)
        self._refit()
        self._fitted = True

    def expected(self) -> np.ndarray:
        """Each metric's expected value now, in its own units (the model's estimate)."""
        if not self._fitted or self._state is None:
            return self._last_raw.copy()
        return self._estimate(self._state) * self._sd + self._mu

    # -- what subclasses provide ------------------------------------------------------
    def _fit_training(self, data: np.ndarray) -> None:
        """Anything learnt once from the (smoothed) training period."""

    def _refit(self) -> None:
        raise NotImplementedError

    def _score_smoothed(self, s: np.ndarray) -> tuple[float, object]:
        """(score, what :meth:`_weights` needs to apportion it later)."""
        raise NotImplementedError

    def _weights(self, seen: object) -> np.ndarray:
        raise NotImplementedError

    def _estimate(self, s: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def normalised_shares(weights: np.ndarray) -> np.ndarray:
    positive = np.maximum(weights, 0.0)
    total = float(positive.sum())
    return positive / total if total > 0 else np.full(len(weights), 1.0 / len(weights))


class PCA(MultivariateDetector):
    """Hotelling's T-squared and Q over a PCA model of the metrics (see the module doc).

    ``variance``: the share of variance the kept components explain (default 0.95).
    """

    method = "pca"

    def __init__(self, n_metrics: int, variance: float = 0.95, **options: object) -> None:
        super().__init__(n_metrics, **options)  # type: ignore[arg-type]
        self.variance = check_rate("variance", variance, 0.01)
        self._components = np.zeros((self.d, 1))
        self._eigen = np.ones(1)
        self._g = self._h = 1.0

    def _refit(self) -> None:
        values, vectors = np.linalg.eigh(self._cov)
        order = np.argsort(values)[::-1]
        values = np.maximum(values[order], 1e-12)
        vectors = vectors[:, order]
        k = int(np.searchsorted(np.cumsum(values) / values.sum(), self.variance) + 1)
        k = min(k, self.d - 1)  # keep a residual subspace for Q
        self._components, self._eigen = vectors[:, :k], values[:k]
        rest = values[k:]
        theta1, theta2 = float(rest.sum()), float((rest**2).sum())
        self._g = theta2 / theta1 if theta1 > 0 else 1.0
        self._h = theta1 * theta1 / theta2 if theta2 > 0 else 1.0

    def _score_smoothed(self, s: np.ndarray) -> tuple[float, object]:
        z = s - self._mean
        t = self._components.T @ z
        scaled = t / self._eigen
        t2 = float(t @ scaled)
        residual = z - self._components @ t
        q = float(residual @ residual)
        z_t2 = wilson_hilferty(t2, len(self._eigen))
        z_q = wilson_hilferty(q / self._g, self._h)
        return two_sided(max(z_t2, z_q)), (z_q >= z_t2, z, scaled, residual)

    def _weights(self, seen: object) -> np.ndarray:
        off_model, z, scaled, residual = cast(_PcaSeen, seen)
        if off_model:  # off the model's subspace: each metric's squared residual
            return np.asarray(residual * residual)
        return np.asarray(z * (self._components @ scaled))  # each metric's part of T-squared

    def _estimate(self, s: np.ndarray) -> np.ndarray:
        z = s - self._mean
        return self._mean + self._components @ (self._components.T @ z)


class MultivariateFilter:
    """Decides for a multivariate detector, like :class:`ThresholdFilter` for one metric:
    anomalous when the score is above ``threshold``; anomalous vectors only move the
    smoothing on (kept out of the model) for up to ``max_protected`` in a row, after
    which a lasting change is learnt as the new normal."""

    def __init__(
        self, detector: MultivariateDetector, threshold: float, max_protected: int = 3600
    ) -> None:
        self.detector = detector
        self.threshold = threshold
        self.max_protected = max_protected
        self._protected_run = 0

    def update(self, x: Sequence[float] | np.ndarray) -> tuple[float, np.ndarray | None]:
        """Score, decide and learn (or skip) ``x``: returns (score, each metric's share of
        the score when anomalous, else None)."""
        det = self.detector
        score = det.score_one(x) if det.ready else 0.0
        anomalous = score > self.threshold
        shares = det.contributions(x) if anomalous else None
        self._protected_run = self._protected_run + 1 if anomalous else 0
        if anomalous and self._protected_run <= self.max_protected:
            det.skip_one(x)
        else:
            det.learn_one(x)
        return score, shares
