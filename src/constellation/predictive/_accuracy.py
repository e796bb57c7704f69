"""Accuracy tracking: predictions meet the actuals that later arrive for their time.

Each prediction registers its target time. When a sample arrives within half a sampling
step of a pending target, the pair is scored and kept in a rolling window:

* ``mape``: mean |error| / |actual| in percent, over actuals that are not zero. It is
  undefined for a zero actual, so ``zero_actuals`` counts the ones left out and
  ``mape`` is None when every actual was zero.
* ``smape``: mean 200 |error| / (|actual| + |forecast|) (0 when both are 0).
* ``mase``: mean |error| over the in-sample MAE of seasonal naive on the training data.
* ``coverage``: share of actuals inside [lower_bound, upper_bound].
* ``accuracy``: the seed's figure, 100 - MAPE (None when MAPE is undefined; it can be
  negative when MAPE exceeds 100%).
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["AccuracyTracker"]

MAX_PENDING = 10_000


@dataclass(frozen=True)
class _Scored:
    abs_error: float
    ape: float | None
    sape: float
    covered: bool
    scaled: float | None


class AccuracyTracker:
    """Pending predictions by target time, and a rolling window of scored ones."""

    def __init__(self, window: int = 200) -> None:
        self._targets: list[float] = []  # sorted target times
        self._pending: dict[float, tuple[float, float, float]] = {}
        self._scored: deque[_Scored] = deque(maxlen=window)
        self.mase_scale: float | None = None
        self.tolerance = 0.5
        self._lock = threading.Lock()

    def expect(self, target: float, value: float, lower: float, upper: float) -> None:
        """Remember a prediction for time ``target`` (a newer one for that time replaces it)."""
        with self._lock:
            if target not in self._pending:
                bisect.insort(self._targets, target)
            self._pending[target] = (value, lower, upper)
            while len(self._targets) > MAX_PENDING:
                self._pending.pop(self._targets.pop(0), None)

    def observe(self, timestamp: float, actual: float) -> bool:
        """Score the pending prediction nearest ``timestamp`` if it is within tolerance."""
        with self._lock:
            # forget predictions whose time has long passed without an actual
            cut = bisect.bisect_left(self._targets, timestamp - self.tolerance)
            for stale in self._targets[:cut]:
                del self._pending[stale]
            del self._targets[:cut]
            if not self._targets or self._targets[0] > timestamp + self.tolerance:
                return False
            target = self._targets.pop(0)
            value, lower, upper = self._pending.pop(target)
        err = abs(actual - value)
        ape = 100.0 * err / abs(actual) if actual != 0 else None
        denom = abs(actual) + abs(value)
        sape = 200.0 * err / denom if denom > 0 else 0.0
        scaled = err / self.mase_scale if self.mase_scale else None
        with self._lock:
            self._scored.append(_Scored(err, ape, sape, lower <= actual <= upper, scaled))
        return True

    @property
    def pending(self) -> int:
        return len(self._targets)

    def coverage(self) -> float | None:
        with self._lock:
            scored = list(self._scored)
        return sum(s.covered for s in scored) / len(scored) if scored else None

    def summary(self) -> dict[str, float | int | None]:
        with self._lock:
            scored = list(self._scored)
        count = len(scored)
        apes = [s.ape for s in scored if s.ape is not None]
        scaled = [s.scaled for s in scored if s.scaled is not None]
        mape = sum(apes) / len(apes) if apes else None
        return {
            "count": count,
            "pending": self.pending,
            "mae": sum(s.abs_error for s in scored) / count if count else None,
            "mape": mape,
            "smape": sum(s.sape for s in scored) / count if count else None,
            "mase": sum(scaled) / len(scaled) if scaled else None,
            "coverage": sum(s.covered for s in scored) / count if count else None,
            "accuracy": 100.0 - mape if mape is not None else None,
            "zero_actuals": count - len(apes),
        }
