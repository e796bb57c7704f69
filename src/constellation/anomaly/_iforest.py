"""A streaming isolation forest (Liu, Ting and Zhou 2008) over context features.

Each value becomes a point of three features: the value, its change from the previous
value and its distance from an EW moving average, so a spike, a step and a drift all
stand out. The forest is trained on the most recent ``window`` points and retrained
every ``retrain_every`` values (amortised cost). Trees are stored as flat arrays and a
point descends all trees at once with numpy, one level per step.

The score: the usual isolation score ``s = 2^(-E[h(x)] / c(psi))`` standardised against
the scores of the training points, i.e. how many standard deviations ``x`` is easier to
isolate than the recent data. ``sensitivity`` is that number of deviations.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..errors import ValidationError
from ._base import MAX_SCORE, Baseline, Detector
from ._statistical import _check_window
from ._windows import EwmMoments

__all__ = ["IsolationForest"]

_EULER = 0.5772156649


def _avg_path(n: int | np.ndarray) -> np.ndarray:
    """c(n): the average path length of an unsuccessful BST search among n points."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    big = n > 2
    out[big] = 2 * (np.log(n[big] - 1) + _EULER) - 2 * (n[big] - 1) / n[big]
    out[n == 2] = 1.0
    return out


class _Forest:
    """Isolation trees as padded arrays: feature (-1 at a leaf), split, children, leaf size."""

    def __init__(self, data: np.ndarray, n_trees: int, sample: int, rng: np.random.Generator):
        self.psi = min(sample, len(data))
        self.max_depth = max(1, math.ceil(math.log2(max(self.psi, 2))))
        cap = 2 ** (self.max_depth + 1)
        self.feature = np.full((n_trees, cap), -1, dtype=np.int64)
        self.split = np.zeros((n_trees, cap))
        self.left = np.zeros((n_trees, cap), dtype=np.int64)
        self.right = np.zeros((n_trees, cap), dtype=np.int64)
        self.size = np.zeros((n_trees, cap))
        for tree in range(n_trees):
            rows = rng.choice(len(data), size=self.psi, replace=False)
            self._grow(tree, data[rows], rng)
        self.norm = float(_avg_path(self.psi))

    def _grow(self, tree: int, points: np.ndarray, rng: np.random.Generator) -> None:
        stack = [(0, points, 0)]
        next_free = 1
        while stack:
            node, pts, depth = stack.pop()
            self.size[tree, node] = len(pts)
            if depth >= self.max_depth or len(pts) <= 1:
                continue
            low, high = pts.min(axis=0), pts.max(axis=0)
            usable = np.flatnonzero(high > low)
            if len(usable) == 0:
                continue
            feat = int(rng.choice(usable))
            cut = rng.uniform(low[feat], high[feat])
            mask = pts[:, feat] < cut
            self.feature[tree, node] = feat
            self.split[tree, node] = cut
            self.left[tree, node], self.right[tree, node] = next_free, next_free + 1
            stack.append((next_free, pts[mask], depth + 1))
            stack.append((next_free + 1, pts[~mask], depth + 1))
            next_free += 2

    def scores(self, points: np.ndarray) -> np.ndarray:
        """Isolation scores in (0, 1) of each row of ``points``; all trees in step."""
        n_trees = self.feature.shape[0]
        trees = np.arange(n_trees)[:, None]
        node = np.zeros((n_trees, len(points)), dtype=np.int64)
        depth = np.zeros((n_trees, len(points)))
        cols = np.arange(len(points))[None, :]
        for _ in range(self.max_depth):
            feat = self.feature[trees, node]
            inner = feat >= 0
            if not inner.any():
                break
            values = points[cols, np.maximum(feat, 0)]
            go_left = values < self.split[trees, node]
            child = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(inner, child, node)
            depth += inner
        path = depth + _avg_path(self.size[trees, node])
        return np.asarray(2.0 ** (-path.mean(axis=0) / self.norm))


class IsolationForest(Detector):
    """Isolation forest over (value, change, distance from EWMA), retrained periodically."""

    method = "isolation_forest"

    def __init__(
        self,
        window: int = 512,
        n_trees: int = 32,
        sample: int = 128,
        retrain_every: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.window = _check_window(window, low=16) or 512
        if n_trees < 1 or sample < 8 or retrain_every < 1:
            raise ValidationError(
                "n_trees", "expected n_trees >= 1, sample >= 8 and retrain_every >= 1"
            )
        self.n_trees, self.sample, self.retrain_every = n_trees, sample, retrain_every
        self.warmup = min(self.window, 64)
        self._rng = np.random.default_rng(seed)
        self._points: deque[tuple[float, float, float]] = deque(maxlen=self.window)
        self._ewma = EwmMoments(0.1)
        self._last: float | None = None
        self._forest: _Forest | None = None
        self._centre = 0.0
        self._spread = 1.0
        self._since_train = 0

    def _features(self, x: float) -> tuple[float, float, float]:
        change = 0.0 if self._last is None else x - self._last
        drift = 0.0 if self._ewma.n == 0 else self._ewma.deviation(x)
        return (x, change, drift)

    def _train(self) -> None:
        data = np.asarray(self._points)
        self._forest = _Forest(data, self.n_trees, self.sample, self._rng)
        own = self._forest.scores(data)
        self._centre = float(own.mean())
        self._spread = float(own.std()) or 1e-9
        self._since_train = 0

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._points.append(self._features(x))
        self._ewma.add(x)
        self._last = x
        self.n_seen += 1
        self._since_train += 1
        if len(self._points) >= self.warmup and (
            self._forest is None or self._since_train >= self.retrain_every
        ):
            self._train()

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._forest is None:
            return 0.0
        raw = float(self._forest.scores(np.asarray([self._features(x)]))[0])
        return min(max(0.0, (raw - self._centre) / self._spread), MAX_SCORE)

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self._ewma.n == 0:
            return None
        mean, spread = self._ewma.mean, sensitivity * self._ewma.std
        return Baseline(mean, mean - spread, mean + spread)
