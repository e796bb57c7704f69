"""The multivariate state estimation technique (``mset``; Gross et al. 1997).

Each vector is estimated as a similarity-weighted blend of a memory of normal vectors;
the residual is scored by its Mahalanobis distance. Shared steps (standardising,
smoothing, training, adapting, gaps) are :class:`MultivariateDetector`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from ._multivariate import (
    MultivariateDetector,
    check_int,
    check_rate,
    two_sided,
    wilson_hilferty,
)

__all__ = ["MSET"]


class MSET(MultivariateDetector):
    """Similarity-based state estimation over a memory of normal vectors.

    ``memory``: how many training vectors it keeps (each metric's extremes, then evenly
    spaced ones; default 32) from the training period, whose residuals are calibrated
    by cross-fitting its two halves. Similarity: a Gaussian kernel whose width is
    the median distance between memory vectors, with ``ridge`` added to the memory's
    similarity matrix before inverting it (a smoother estimate: a metric that is only
    noise is estimated near its mean, not copied from the nearest memory). It keeps
    adapting: every
    ``remember_every`` normal vectors, the latest replaces the oldest remembered one
    (each metric's extremes stay).
    """

    method = "mset"

    def __init__(
        self,
        n_metrics: int,
        memory: int = 32,
        remember_every: int = 5,
        ridge: float = 0.1,
        **options: object,
    ) -> None:
        super().__init__(n_metrics, **options)  # type: ignore[arg-type]
        self.memory = check_int("memory", memory, 4)
        self._memory = np.zeros((1, self.d))
        self._inverse = np.ones((1, 1))
        self._width2 = 1.0
        self._precision: np.ndarray = np.eye(self.d)
        self._pinned = self._next_slot = self._learnt = 0
        self.remember_every = check_int("remember_every", remember_every, 1)
        self.ridge = check_rate("ridge", ridge, 1e-9)

    def _fit_training(self, data: np.ndarray) -> None:
        # Residuals are calibrated by cross-fitting: a memory from each half of the
        # training period estimates the other half, so every training vector yields an
        # out-of-memory residual (the smoothed vectors are strongly autocorrelated:
        # residuals from one half alone leave too few independent ones). The memory
        # kept is then chosen from the whole period.
        half = len(data) // 2
        first, second = data[:half], data[half:]
        residuals: list[np.ndarray] = []
        for learn, held in ((first, second), (second, first)):
            self._use_memory(learn)
            residuals.extend(self._residual(s) for s in held)
        # Residuals are tracked in place of the smoothed vectors: the shared mean and
        # covariance (and their adaptation) then describe the residuals.
        self._residual_seed = np.vstack(residuals)
        self._use_memory(data)

    def _use_memory(self, data: np.ndarray) -> None:
        """Remember each metric's extremes in ``data`` and evenly spaced vectors."""
        chosen = set(np.argmin(data, axis=0).tolist()) | set(np.argmax(data, axis=0).tolist())
        rest = [i for i in range(len(data)) if i not in chosen]
        wanted = max(0, min(self.memory, len(data)) - len(chosen))
        picks: list[int] = (
            np.linspace(0, len(rest) - 1, wanted).astype(int).tolist() if wanted and rest else []
        )
        extremes = sorted(chosen)
        others = sorted({rest[i] for i in picks} - chosen)
        memory = data[extremes + others].copy()
        self._pinned, self._next_slot = len(extremes), 0
        gaps = np.sqrt(((memory[:, None, :] - memory[None, :, :]) ** 2).sum(-1))
        width = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 1.0
        self._memory, self._width2 = memory, 2 * width * width
        gram = np.exp(-(gaps**2) / self._width2)
        self._inverse = np.linalg.inv(gram + self.ridge * np.eye(len(memory)))

    def _initial_fit(self) -> None:
        super()._initial_fit()
        residuals = self._residual_seed
        self._mean = residuals.mean(axis=0)
        self._cov = np.cov(residuals.T) + 1e-9 * np.eye(self.d)
        self._refit()

    def _estimate(self, s: np.ndarray) -> np.ndarray:
        similarity = np.exp(-((self._memory - s) ** 2).sum(-1) / self._width2)
        weights = self._inverse @ similarity
        total = float(weights.sum())
        if abs(total) < 1e-12:
            return self._memory.mean(axis=0)
        return (weights / total) @ self._memory

    def _residual(self, s: np.ndarray) -> np.ndarray:
        return s - self._estimate(s)

    def _refit(self) -> None:
        self._precision = np.linalg.inv(self._cov)

    def _score_smoothed(self, s: np.ndarray) -> tuple[float, object]:
        r = self._residual(s) - self._mean
        scaled = self._precision @ r
        distance = float(r @ scaled)
        return two_sided(wilson_hilferty(distance, self.d)), (r, scaled)

    def _weights(self, seen: object) -> np.ndarray:
        # Each metric's own residual in its residual deviations (the Mahalanobis terms
        # r_j (S^-1 r)_j spread blame onto correlated, quiet metrics).
        r, _ = cast(tuple[np.ndarray, np.ndarray], seen)
        return np.asarray(r * r / np.diag(self._cov))

    def learn_one(self, x: Sequence[float] | np.ndarray) -> None:
        if not self._fitted:
            super().learn_one(x)
            return
        # Adapt the residuals' mean and covariance (not the memory).
        v = self._vector(x)
        s, _, _ = self._score(v)
        r = self._residual(s)
        self._advance(v, s)
        self._adapt(r)
        self._learnt += 1
        if self._learnt % self.remember_every == 0:  # a recent normal vector joins the memory
            self._remember(s)

    def _remember(self, s: np.ndarray) -> None:
        """Replace the oldest remembered vector (never a metric's extreme) with ``s``."""
        if len(self._memory) <= self._pinned:
            return
        slot = self._pinned + self._next_slot % (len(self._memory) - self._pinned)
        self._next_slot += 1
        self._memory[slot] = s
        gaps2 = ((self._memory[:, None, :] - self._memory[None, :, :]) ** 2).sum(-1)
        gram = np.exp(-gaps2 / self._width2)
        self._inverse = np.linalg.inv(gram + self.ridge * np.eye(len(self._memory)))
