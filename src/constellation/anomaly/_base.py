"""The streaming detector interface, the threshold wrapper that decides, and the errors.

Modelled on river (``river/base/anomaly_detector.py`` and ``river/anomaly/filter.py``):
a detector only *scores* (``score_one``) and *learns* (``learn_one``), one value at a
time; deciding is the job of a separate :class:`ThresholdFilter`, which also keeps
anomalies out of the detector's memory so a long incident does not become "normal".

Errors of this package::

    ConstellationError
    ├── AnomalyError        anything else raised on purpose (e.g. an unreadable NAB corpus)
    ├── ValidationError     bad input (NaN, sensitivity <= 0, unknown method or option, ...):
    │                       names the field and what is allowed; changes nothing (ValueError)
    └── NotFoundError       unknown detector, rule or anomaly id (LookupError)

``ValidationError`` and ``NotFoundError`` are the platform's (:mod:`constellation.errors`),
so one ``except ConstellationError`` covers every package.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

from ..errors import ConstellationError, ValidationError

__all__ = [
    "MAX_SCORE",
    "AnomalyError",
    "Baseline",
    "Detector",
    "ThresholdFilter",
    "check_finite",
    "check_positive",
]

# A deviation from a perfectly constant baseline has no finite size in units of its
# spread; it is reported as this large, finite score (JSON- and SQLite-safe).
MAX_SCORE = 1e6


class AnomalyError(ConstellationError):
    """Root of the errors raised by ``constellation.anomaly``."""


def check_finite(field: str, value: object) -> float:
    """``value`` as a float, or ValidationError when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"{value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(field, f"{number!r} is not a finite number")
    return number


def check_positive(field: str, value: object) -> float:
    """``value`` as a float > 0, or ValidationError naming the allowed range."""
    number = check_finite(field, value)
    if number <= 0:
        raise ValidationError(field, f"{value!r} is out of range; expected > 0")
    return number


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a detector considers normal now: a centre and a range at its sensitivity."""

    expected: float
    lower: float
    upper: float


def deviation_score(x: float, centre: float, scale: float) -> float:
    """``|x - centre| / scale``; a constant baseline (scale 0) gives 0 or :data:`MAX_SCORE`."""
    diff = abs(x - centre)
    if scale > 0:
        return min(diff / scale, MAX_SCORE)
    return 0.0 if diff == 0 else MAX_SCORE


class Detector(abc.ABC):
    """A streaming, univariate anomaly detector.

    ``score_one(x)`` says how unusual ``x`` is given what was learnt so far (0 = normal;
    larger = more unusual, in the unit of the detector's ``sensitivity``) and does not
    change the state; ``learn_one(x)`` adds ``x`` to the state. Both take an optional
    timestamp (unix seconds), which the seasonal detectors need. Cost is O(1) or
    O(log window) per value, except where a subclass says otherwise.
    """

    #: the method name used by :func:`create_detector`
    method: str = ""
    #: points needed before scores mean anything (scores are 0 until then)
    warmup: int = 0
    #: whether a ThresholdFilter should keep anomalous values out of the state
    protect: bool = True

    def __init__(self) -> None:
        self.n_seen = 0

    @abc.abstractmethod
    def learn_one(self, x: float, t: float | None = None) -> None:
        """Update the state with ``x``."""

    @abc.abstractmethod
    def score_one(self, x: float, t: float | None = None) -> float:
        """How unusual ``x`` is (>= 0), without learning it."""

    def baseline(self, sensitivity: float) -> Baseline | None:
        """The expected value and the normal range at ``sensitivity`` (None while warming up)."""
        return None

    def confidence(self, score: float) -> float:
        """A 0-1 confidence that ``score`` is anomalous; by default the two-sided normal mass."""
        return math.erf(score / math.sqrt(2.0)) if score > 0 else 0.0

    @property
    def ready(self) -> bool:
        return self.n_seen >= self.warmup

    def score_learn(self, x: float, t: float | None = None) -> float:
        """Score ``x`` then learn it (the usual streaming step)."""
        score = self.score_one(x, t)
        self.learn_one(x, t)
        return score

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_seen={self.n_seen})"


class ThresholdFilter:
    """Decides: a value is anomalous when its score is above ``threshold``.

    With ``protect`` (the default, as in river's ``ThresholdFilter``) an anomalous value
    is not learnt, so the baseline is not dragged towards an incident; but after
    ``max_protected`` anomalous values in a row they are learnt anyway, so a lasting
    change of level becomes the new normal instead of an endless alarm. A detector that
    has not finished its warm-up never flags.
    """

    def __init__(
        self, detector: Detector, threshold: float, protect: bool = True, max_protected: int = 30
    ) -> None:
        self.detector = detector
        self.threshold = check_finite("threshold", threshold)
        self.protect = protect
        self.max_protected = max_protected
        self._protected_run = 0

    def classify(self, score: float) -> bool:
        return score > self.threshold

    def score_one(self, x: float, t: float | None = None) -> float:
        return self.detector.score_one(x, t) if self.detector.ready else 0.0

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._learn(x, t, self.classify(self.score_one(x, t)))

    def _learn(self, x: float, t: float | None, anomalous: bool) -> None:
        # _protected_run counts anomalous values in a row; a normal value resets it.
        self._protected_run = self._protected_run + 1 if anomalous else 0
        if self.protect and anomalous and self._protected_run <= self.max_protected:
            return
        self.detector.learn_one(x, t)

    def update(self, x: float, t: float | None = None) -> tuple[float, bool]:
        """Score, decide and (unless protected) learn ``x``: returns (score, anomalous)."""
        score = self.score_one(x, t)
        anomalous = self.classify(score)
        self._learn(x, t, anomalous)
        return score, anomalous
