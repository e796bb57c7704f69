"""A streaming isolation forest (Liu, Ting and Zhou 2008) over context features.

Each value becomes a point of three features: the value, its change from the previous
value and its distance from an EW moving average, so a spike, a step and a drift all
stand out. The forest is trained on the most recent ``window`` points and retrained
every ``retrain_every`` values (amortised cost). Trees are flat Python lists: for one
point at a time that beats numpy, whose per-call overhead dominates at this size.

The score: the usual isolation score ``s = 2^(-E[h(x)] / c(psi))`` standardised against
the scores of the training points, i.e. how many standard deviations ``x`` is easier to
isolate than the recent data. ``sensitivity`` is that number of deviations.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import deque

from ..errors import ValidationError
from ._base import MAX_SCORE, Baseline, Detector
from ._statistical import _check_window
from ._windows import EwmMoments

__all__ = ["IsolationForest"]

_EULER = 0.5772156649
_EDGE_SIGMAS = 3.0


def _avg_path(n: float) -> float:
    """c(n): the average path length of an unsuccessful BST search among n points."""
    if n > 2:
        return 2 * (math.log(n - 1) + _EULER) - 2 * (n - 1) / n
    return 1.0 if n == 2 else 0.0


def _std(values: tuple[float, ...]) -> float:
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


class _Tree:
    """One isolation tree in flat arrays (walked in Python: faster than numpy for one point).

    ``feature[i]`` is -1 at a leaf, where ``leaf[i]`` holds depth + c(size) already.
    """

    __slots__ = ("feature", "leaf", "left", "right", "split")

    def __init__(self, points: list[tuple[float, ...]], max_depth: int, rng: random.Random):
        # Typed arrays: a quarter of the memory of lists of Python floats.
        self.feature = array("b")
        self.split = array("d")
        self.left = array("H")
        self.right = array("H")
        self.leaf = array("d")
        self._grow(points, 0, max_depth, rng)

    def _new_node(self) -> int:
        self.feature.append(-1)
        self.split.append(0.0)
        self.left.append(0)
        self.right.append(0)
        self.leaf.append(0.0)
        return len(self.feature) - 1

    def _grow(
        self, points: list[tuple[float, ...]], depth: int, max_depth: int, rng: random.Random
    ) -> int:
        node = self._new_node()
        if depth < max_depth and len(points) > 1:
            spans = [(min(col), max(col)) for col in zip(*points, strict=True)]
            usable = [f for f, (low, high) in enumerate(spans) if high > low]
            if usable:
                feat = rng.choice(usable)
                low, high = spans[feat]
                cut = rng.uniform(low, high)
                below = [p for p in points if p[feat] < cut]
                above = [p for p in points if p[feat] >= cut]
                if below and above:
                    self.feature[node], self.split[node] = feat, cut
                    self.left[node] = self._grow(below, depth + 1, max_depth, rng)
                    self.right[node] = self._grow(above, depth + 1, max_depth, rng)
                    return node
        self.leaf[node] = depth + _avg_path(len(points))
        return node

    def path(self, point: tuple[float, ...]) -> float:
        feature, split, left, right = self.feature, self.split, self.left, self.right
        node = 0
        while feature[node] >= 0:
            node = left[node] if point[feature[node]] < split[node] else right[node]
        return self.leaf[node]


class _Forest:
    def __init__(
        self, data: list[tuple[float, ...]], n_trees: int, sample: int, rng: random.Random
    ) -> None:
        psi = min(sample, len(data))
        depth = max(1, math.ceil(math.log2(max(psi, 2))))
        self.trees = [_Tree(rng.sample(data, psi), depth, rng) for _ in range(n_trees)]
        self.norm = _avg_path(psi) or 1.0

    def score(self, point: tuple[float, ...]) -> float:
        """The isolation score in (0, 1): about 0.5 for ordinary points, near 1 for outliers."""
        mean_path = sum(tree.path(point) for tree in self.trees) / len(self.trees)
        return float(2.0 ** (-mean_path / self.norm))


class IsolationForest(Detector):
    """Isolation forest over (value, change, distance from EWMA), retrained periodically."""

    method = "isolation_forest"
    protect = False  # isolation needs the rare points in its sample to score them as rare

    def __init__(
        self,
        window: int = 512,
        n_trees: int = 25,
        sample: int = 128,
        retrain_every: int = 1024,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.window = _check_window(window, low=16) or 512
        if n_trees < 1 or sample < 8 or retrain_every < 1:
            raise ValidationError(
                "n_trees", "expected n_trees >= 1, sample >= 8 and retrain_every >= 1"
            )
        self.n_trees, self.sample, self.retrain_every = n_trees, sample, retrain_every
        self.warmup = min(self.window, 256)
        self._rng = random.Random(seed)
        self._points: deque[tuple[float, ...]] = deque(maxlen=self.window)
        self._ewma = EwmMoments(0.1)
        self._last: float | None = None
        self._forest: _Forest | None = None
        self._centre = 0.0
        self._spread = 1.0
        self._since_train = 0
        self._bounds: list[tuple[float, float, float]] = []
        self._trained_on = 0

    def _features(self, x: float) -> tuple[float, float, float]:
        change = 0.0 if self._last is None else x - self._last
        drift = 0.0 if self._ewma.n == 0 else self._ewma.deviation(x)
        return (x, change, drift)

    def _train(self) -> None:
        data = list(self._points)
        self._trained_on = len(data)
        self._forest = _Forest(data, self.n_trees, self.sample, self._rng)
        # Standardise against a sample of the training points (all of them would cost
        # window x trees path walks per retrain).
        own = [self._forest.score(p) for p in self._rng.sample(data, min(256, len(data)))]
        self._centre = math.fsum(own) / len(own)
        variance = math.fsum((v - self._centre) ** 2 for v in own) / len(own)
        self._spread = math.sqrt(variance) or 1e-9
        self._bounds = [(min(col), max(col), _std(col)) for col in zip(*data, strict=True)]
        self._since_train = 0

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._points.append(self._features(x))
        self._ewma.add(x)
        self._last = x
        self.n_seen += 1
        self._since_train += 1
        # Retrain each time the window doubles while it fills (a forest of the first 64
        # values knows a fraction of a daily cycle), then every ``retrain_every``.
        if len(self._points) >= self.warmup and (
            self._forest is None
            or self._since_train >= self.retrain_every
            or (len(self._points) < self.window and len(self._points) >= 2 * self._trained_on)
        ):
            self._train()

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._forest is None:
            return 0.0
        point = self._features(x)
        raw = self._forest.score(point)
        isolation = max(0.0, (raw - self._centre) / self._spread)
        return min(max(isolation, self._beyond(point)), MAX_SCORE)

    def _beyond(self, point: tuple[float, ...]) -> float:
        """How far ``point`` lies outside the training data's range, in its features'
        standard deviations (the largest). Isolation saturates there: every point past
        the range takes the same path as the extreme training point, so a 10x spike
        would score no higher than the stream's largest ordinary value. The edge of a few
        hundred normal values lies about 3 deviations out, hence ``3 + excess``."""
        worst = 0.0
        for value, (low, high, std) in zip(point, self._bounds, strict=True):
            excess = value - high if value > high else low - value
            if excess > 0:
                worst = max(worst, _EDGE_SIGMAS + excess / std if std > 0 else MAX_SCORE)
        return worst

    def baseline(self, sensitivity: float) -> Baseline | None:
        if self._ewma.n == 0:
            return None
        mean, spread = self._ewma.mean, sensitivity * self._ewma.std
        return Baseline(mean, mean - spread, mean + spread)
