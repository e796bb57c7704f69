"""The multivariate state estimation technique (``mset``; Gross et al. 1997).

Each vector is estimated as a similarity-weighted blend of a memory of normal vectors;
the residual is scored by its Mahalanobis distance. Shared steps (standardising,
smoothing, training, adapting, gaps) are :class:`MultivariateDetector`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from ..errors import ValidationError
from ._multivariate import (
    MultivariateDetector,
    check_int,
    check_rate,
    chi2_quantile,
    two_sided,
    wilson_hilferty,
)

__all__ = ["MSET"]


class MSET(MultivariateDetector):
    """Similarity-based state estimation over a memory of normal vectors.

    ``memory``: how many training vectors it keeps (each metric's extremes, then evenly
    spaced ones; default 16) from the training period, whose residuals are calibrated
    by cross-fitting its two halves. Similarity: a Gaussian kernel whose width is
    ``width`` (default 4) times the median distance between memory vectors, with
    ``ridge`` (default 1) added to the memory's similarity matrix before inverting it.
    A wide, regularised kernel gives a smooth estimate that follows a normal state
    somewhat beyond the memory's range (a narrow one pulls it back towards the nearest
    memory vector, and such a normal state scores as a break), and estimates a metric
    that is only noise near its mean instead of copying it from the nearest memory.
    ``tail``: the residual distance is divided by how far the training residuals'
    ``tail`` quantile exceeds chi-squared's (at least 1): a kernel estimate's residuals
    have heavier tails than a Gaussian's. A missing metric takes its Gaussian
    conditional expectation given the observed ones and is left out of the score.
    It keeps adapting: the residuals' mean and covariance with every normal vector,
    and every ``remember_every`` (default 300) normal vectors the latest replaces the
    oldest remembered one (each metric's extremes stay). Replacing memory faster (every
    5 vectors, the first version) lets a slowly developing fault into the memory: its
    residual then shrinks and it is missed.
    """

    method = "mset"
    _inflate = 1.0  # (class defaults: states saved before these existed load with them)
    _gaps: np.ndarray | None = None  # the metrics missing from the vector being scored
    _blend: np.ndarray | None = None  # precomputed from the memory (see _set_memory)
    _scored: tuple[np.ndarray, np.ndarray] | None = None  # (smoothed vector, its residual)

    def __init__(
        self,
        n_metrics: int,
        memory: int = 16,
        remember_every: int = 300,
        ridge: float = 1.0,
        tail: float = 0.99,
        width: float = 4.0,
        **options: object,
    ) -> None:
        super().__init__(n_metrics, **options)  # type: ignore[arg-type]
        self.memory = check_int("memory", memory, 4)
        self._memory = np.zeros((1, self.d))
        self._width2 = 1.0
        self._precision: np.ndarray = np.eye(self.d)
        self._state_mean = np.zeros(self.d)  # of the training period's smoothed vectors
        self._state_cov = np.eye(self.d)
        self._pinned = self._next_slot = self._learnt = 0
        self.remember_every = check_int("remember_every", remember_every, 1)
        self.ridge = check_rate("ridge", ridge, 1e-9)
        self.tail = check_rate("tail", tail, 0.5)
        if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width <= 100:
            raise ValidationError("width", f"{width!r} is out of range; expected > 0 and <= 100")
        self.width = float(width)
        if self.tail >= 1:
            raise ValidationError("tail", f"{tail!r} is out of range; expected 0.5-0.999")

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
        self._state_mean = data.mean(axis=0)
        self._state_cov = np.cov(data.T) + 1e-6 * np.eye(self.d)
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
        width *= self.width
        self._width2 = 2 * width * width
        self._set_memory(memory)

    def _set_memory(self, memory: np.ndarray) -> None:
        """Keep ``memory`` and what each estimate needs from it, precomputed."""
        self._memory = memory
        gaps2 = ((memory[:, None, :] - memory[None, :, :]) ** 2).sum(-1)
        gram = np.exp(-gaps2 / self._width2)
        inverse = np.linalg.inv(gram + self.ridge * np.eye(len(memory)))
        # estimate(s) = sum_i w_i m_i / sum_i w_i with w = inverse @ k(s), k_i(s) =
        # exp(-|m_i - s|^2 / width2) = exp(-|m_i|^2 / width2 + (2 m_i / width2).s - |s|^2 / width2)
        self._blend = inverse.T @ memory
        self._norm = inverse.sum(axis=0)
        self._doubled = memory * (2.0 / self._width2)
        self._offset = -(memory * memory).sum(-1) / self._width2

    def _initial_fit(self) -> None:
        super()._initial_fit()
        residuals = self._residual_seed
        self._mean = residuals.mean(axis=0)
        self._cov = np.cov(residuals.T) + 1e-9 * np.eye(self.d)
        self._refit()
        # A kernel estimate is better near its memory than between it, so the residuals'
        # distances have heavier tails than chi-squared(d): the distance is divided by
        # how much the training period's upper percentile exceeds chi-squared's.
        centred = residuals - self._mean
        distances = np.einsum("ij,jk,ik->i", centred, self._precision, centred)
        expected = chi2_quantile(self.tail, self.d)
        self._inflate = max(1.0, float(np.quantile(distances, self.tail)) / expected)

    def _estimate(self, s: np.ndarray) -> np.ndarray:
        if self._blend is None:  # a state saved before the precomputed terms existed
            self._set_memory(self._memory)
        similarity = np.exp(self._offset + self._doubled @ s - float(s @ s) / self._width2)
        total = float(self._norm @ similarity)
        if abs(total) < 1e-12:
            return self._memory.mean(axis=0)
        return (similarity @ self._blend) / total

    def _fill(self, filled: np.ndarray, missing: np.ndarray) -> np.ndarray:
        # A kernel estimate shrinks towards the memory, so a gap takes the Gaussian
        # conditional expectation given the observed metrics (the training period's
        # smoothed mean and covariance) instead; the score then leaves gaps out.
        self._gaps = missing
        seen = ~missing
        if "_state_mean" not in self.__dict__:  # a state saved before these existed
            return super()._fill(filled, missing)
        mean, cov = self._state_mean, self._state_cov
        if not seen.any():
            return np.where(missing, mean, filled)
        shift = np.linalg.solve(cov[np.ix_(seen, seen)], filled[seen] - mean[seen])
        out = filled.copy()
        out[missing] = mean[missing] + cov[np.ix_(missing, seen)] @ shift
        return out

    def _residual(self, s: np.ndarray) -> np.ndarray:
        return s - self._estimate(s)

    def _refit(self) -> None:
        self._precision = np.linalg.inv(self._cov)

    def _score_smoothed(self, s: np.ndarray) -> tuple[float, object]:
        residual = self._residual(s)
        self._scored = (s, residual)  # learn_one reuses it (one kernel estimate a step)
        r = residual - self._mean
        gaps, self._gaps = self._gaps, None
        if gaps is not None and gaps.any():  # the distance over the observed metrics
            seen = ~gaps
            if not seen.any():
                return 0.0, (np.zeros(self.d), np.zeros(self.d))
            r = np.where(gaps, 0.0, r)
            scaled = np.zeros(self.d)
            scaled[seen] = np.linalg.solve(self._cov[np.ix_(seen, seen)], r[seen])
            distance = float(r @ scaled) / self._inflate
            return two_sided(wilson_hilferty(distance, int(seen.sum()))), (r, scaled)
        scaled = self._precision @ r
        distance = float(r @ scaled) / self._inflate
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
        scored = self._scored
        r = scored[1] if scored is not None and scored[0] is s else self._residual(s)
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
        memory = self._memory.copy()
        memory[slot] = s
        self._set_memory(memory)
