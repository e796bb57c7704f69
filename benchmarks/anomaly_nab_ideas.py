"""NAB ideas tried for the record, each measured like the shipped ensemble (issue 16).

Usage::

    .venv/bin/python benchmarks/anomaly_nab_ideas.py [--nab DIR] [--workers 2]

Each idea is a variant of the package's ``Ensemble`` defined here (none is shipped),
run with the configuration that ``anomaly_nab_cv.py`` chose in six of its seven folds
(30 levels, contexts of 2, gate 100). Protocol as in ``anomaly_nab_cv.py``: every series
streamed once (score, then learn), leave one NAB category out, choose the threshold that
scores best on the other six, score the held-out category, add the
held-out totals over the seven folds, normalise over the whole corpus. The scorer is
the package's (checked against NAB's own results by ``anomaly_nab_eval.py``). The
in-sample figure of each variant (one corpus-wide threshold) is printed too.

* ``windowed``: ARTime-like windowed features: the novelty of the (level of the mean,
  level of the spread) of the last ``w`` values, and of its transition from the
  previous pair, added to the value's own context novelty (``mix="max"`` or ``"sum"``
  with weight ``weight``).
* ``hold``: a NAB-aware decision: an output >= ``level`` silences all outputs for the
  next ``hold`` values (one alarm per window, as ARTime and HTM suppress).
* ``extremes``: a new extreme (today always fully novel) graded by how far beyond the
  range it goes, or scored above the other novelty.
* ``likelihood``: HTM's anomaly-likelihood idea: the raw score is scaled by how unusual
  it is against its own history (its z-score over the last 2,000 values, divided by
  ``zscale``, clipped to 0-1).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from _nab_cv import CORPUS, PROFILES, arguments, cross_validated, score_all, stream

from constellation.anomaly import (
    Ensemble,
    best_threshold,
    load_nab_corpus,
    load_nab_profiles,
    normalized_score,
    null_score,
)
from constellation.anomaly._windows import RollingMoments

BASE = {"bins": 30, "context": 2, "gate": 100}


class Windowed(Ensemble):
    """The ensemble plus the novelty of windowed features (see the module doc)."""

    def __init__(
        self, w: int = 16, sbins: int = 8, mix: str = "sum", weight: float = 0.3, **kw: Any
    ):
        super().__init__(**kw)
        self.w, self.sbins, self.mix, self.weight = w, sbins, mix, weight
        self._window: deque[float] = deque(maxlen=w)
        self._pairs = bytearray(self.bins * sbins)
        self._moves = bytearray((self.bins * sbins) ** 2)
        self._previous: int | None = None
        self._widest = 0.0
        self._wcache: tuple[float, float, int, float] | None = None

    def _windowed(self, x: float) -> tuple[float, int, float]:
        if self._wcache is not None and self._wcache[0] == x:
            return self._wcache[1], self._wcache[2], self._wcache[3]
        values = [*list(self._window)[len(self._window) == self.w :], x]
        mean, spread = sum(values) / len(values), max(values) - min(values)
        level = self._level(mean, min(self._low, x), max(self._high, x))
        widest = max(self._widest, spread)
        width = 0 if widest <= 0 else min(self.sbins - 1, int(spread / widest * self.sbins))
        pair = level * self.sbins + width
        novelty = 0.5 * (not self._pairs[pair])
        if self._previous is not None:
            novelty += 0.5 * (not self._moves[self._previous * self.bins * self.sbins + pair])
        if self.n_seen + 1 < self.warmup or len(self._window) < self.w:
            novelty = 0.0
        self._wcache = (x, novelty, pair, spread)
        return novelty, pair, spread

    def _raw(self, x: float) -> tuple[float, int]:
        raw, level = super()._raw(x)
        if self.n_seen + 1 < self.warmup:
            return raw, level
        novelty = self.weight * self._windowed(x)[0]
        return (max(raw, novelty) if self.mix == "max" else raw + novelty), level

    def learn_one(self, x: float, t: float | None = None) -> None:
        _, pair, spread = self._windowed(x)
        self._wcache = None
        super().learn_one(x, t)
        self._window.append(x)
        if len(self._window) == self.w:
            self._pairs[pair] = 1
            if self._previous is not None:
                self._moves[self._previous * self.bins * self.sbins + pair] = 1
            self._previous, self._widest = pair, max(self._widest, spread)


class Hold(Ensemble):
    """An output >= ``level`` silences the outputs of the next ``hold`` values."""

    def __init__(self, hold: int = 200, level: float = 1.0, **kw: Any):
        super().__init__(**kw)
        self.hold, self.level = hold, level
        self._quiet, self._last = 0, 0.0

    def score_one(self, x: float, t: float | None = None) -> float:
        self._last = super().score_one(x, t)
        return 0.0 if self._quiet > 0 else self._last

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._quiet > 0:
            self._quiet -= 1
        elif self._last >= self.level:
            self._quiet = self.hold
        self._last = 0.0
        super().learn_one(x, t)


class Likelihood(Ensemble):
    """The raw score scaled by its z-score against its own last ``history`` values."""

    def __init__(self, zscale: float = 2.0, history: int = 2000, **kw: Any):
        super().__init__(**kw)
        self.zscale = zscale
        self._history = RollingMoments(history)
        self._outs = type(self._gate)(kw.get("gate", 150))

    def _out(self, x: float) -> tuple[float, float]:
        raw, _ = Ensemble._raw(self, x)
        h = self._history
        z = (raw - h.mean) / h.std if len(h) > 50 and h.std > 0 else 0.0
        return raw * min(1.0, max(0.0, z / self.zscale)), raw

    def score_one(self, x: float, t: float | None = None) -> float:
        out, _ = self._out(x)
        return out if out > self._outs.max() else 0.0

    def learn_one(self, x: float, t: float | None = None) -> None:
        out, raw = self._out(x)
        self._history.add(raw)
        self._outs.push(out)
        super().learn_one(x, t)


class Extremes(Ensemble):
    """A new extreme graded: fully novel only ``frac`` of the range beyond it; or, with
    ``bonus``, scored ``bonus`` above the other novelty."""

    def __init__(self, frac: float = 0.0, bonus: float = 0.0, **kw: Any):
        super().__init__(**kw)
        self.frac, self.bonus = frac, bonus

    def _raw(self, x: float) -> tuple[float, int]:
        if self._cache is not None and self._cache[0] == x:
            return self._cache[1], self._cache[2]
        low, high = self._low, self._high
        if self.n_seen <= 10 or low <= x <= high:
            return super()._raw(x)
        if self.bonus:
            raw, level = super()._raw(x)
            raw = raw + self.bonus if raw > 0 else raw
        else:  # the context novelty as if x were inside the range, then the graded extreme
            self._low, self._high = min(low, x), max(high, x)
            raw, level = super()._raw(x)
            self._low, self._high = low, high
            span, excess = high - low, max(low - x, x - high)
            raw = max(raw, 1.0 if span <= 0 else min(1.0, excess / (self.frac * span)))
        self._cache = (x, raw, level)
        return raw, level


VARIANTS: list[tuple[str, type[Ensemble], dict[str, Any]]] = [
    ("ensemble (as cross-validated)", Ensemble, {}),
    ("windowed, max, w 8, weight 1", Windowed, {"w": 8, "mix": "max", "weight": 1.0}),
    ("windowed, max, w 32, weight 1", Windowed, {"w": 32, "mix": "max", "weight": 1.0}),
    ("windowed, sum, w 16, weight 0.3", Windowed, {"w": 16, "mix": "sum", "weight": 0.3}),
    ("windowed, sum, w 16, weight 0.6", Windowed, {"w": 16, "mix": "sum", "weight": 0.6}),
    ("hold 200 after >= 1.0", Hold, {"hold": 200, "level": 1.0}),
    ("hold 500 after >= 1.0", Hold, {"hold": 500, "level": 1.0}),
    ("likelihood, zscale 2", Likelihood, {"zscale": 2.0}),
    ("likelihood, zscale 4", Likelihood, {"zscale": 4.0}),
    ("new extreme graded, full at 2% of the range beyond", Extremes, {"frac": 0.02}),
    ("new extreme graded, full at 10% of the range beyond", Extremes, {"frac": 0.1}),
    ("new extreme scored 0.1 above other novelty", Extremes, {"bonus": 0.1}),
    ("new extreme scored 0.3 above other novelty", Extremes, {"bonus": 0.3}),
]


def run(job: tuple[int, str]) -> tuple[int, str, np.ndarray]:
    index, path = job
    _, cls, options = VARIANTS[index]
    return index, path, stream(cls(**BASE, **options), CORPUS[path])


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    corpus = load_nab_corpus(args.nab)
    profiles = load_nab_profiles(args.nab)
    scores = score_all(args.nab, corpus, len(VARIANTS), run, args.workers)
    perfect = sum(len(s.windows) for s in corpus)
    print("| variant | standard, in-sample | standard, CV | low FP, CV | low FN, CV |")
    print("|---|---|---|---|---|")
    for i, (name, _, _) in enumerate(VARIANTS):
        cells = []
        for profile in PROFILES:
            cost = profiles[profile]
            null = null_score(corpus, cost)
            if profile == "standard":
                fit = best_threshold(corpus, scores[i], cost)[1]
                cells.append(f"{normalized_score(fit, null, perfect):.1f}")
            held, _ = cross_validated(corpus, scores, cost, [i])  # the threshold chosen per fold
            cv = normalized_score(held, null, perfect)
            cells.append(f"{cv:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
