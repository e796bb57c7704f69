"""The hybrid histogram policy of Shahrad et al., "Serverless in the Wild" (ATC 2020).

Per function, a histogram of idle times (IT: whole minutes between one active minute and
the next; back-to-back minutes are an IT of 0) in 1-minute bins up to
``histogram_range_minutes`` (4 hours). After each active minute the function's
windows are set from it:

* too many ITs out of the range (share above ``oob_share``): a forecast of the next IT
  (the platform's ARIMA over the recent out-of-range ITs; their mean with fewer than
  ARIMA needs); pre-warm at ``(1 - arima_margin)`` of it and keep alive until
  ``(1 + arima_margin)`` of it;
* a representative histogram (at least ``min_idle_times`` ITs in range and a coefficient
  of variation of the bin counts of at least ``cv_threshold``): pre-warm window = the
  ``head_percentile`` (5th) IT less ``histogram_margin`` (10%), keep-alive up to the
  ``tail_percentile`` (99th) IT plus the margin;
* otherwise the conservative fixed keep-alive of the whole range, no pre-warming.

With a pre-warm window the instances are released after the minute and come back
(pre-warmed) when the window ends. The paper manages one instance per application; the
replay keeps as many as the function's last active minute needed.
"""

from __future__ import annotations

import math

import numpy as np

from ._arima import ARIMA
from ._errors import PredictiveError
from ._replay_policies import ReplayConfig
from ._trace import Trace

__all__ = ["HybridHistogram", "next_idle_time"]


def next_idle_time(history: list[float]) -> float:
    """The next out-of-range idle time: ARIMA over the history, or its mean."""
    y = np.asarray(history, dtype=np.float64)
    if len(y) >= ARIMA.min_obs and np.ptp(y) > 0:
        try:
            value = float(ARIMA().fit(y).forecast(1)[0])
            if math.isfinite(value) and value > 0:
                return value
        except (PredictiveError, ValueError, np.linalg.LinAlgError):
            pass
    return float(y.mean())


class HybridHistogram:
    def __init__(self, trace: Trace, needed: np.ndarray, config: ReplayConfig) -> None:
        functions = len(trace.functions)
        self.config = config
        self.range = config.histogram_range_minutes
        self.hist = np.zeros((functions, self.range), dtype=np.int64)
        self.oob = np.zeros(functions, dtype=np.int64)
        self.oob_history: dict[int, list[float]] = {}
        self.last = np.full(functions, -1, dtype=np.int64)
        self.prewarm = np.zeros(functions, dtype=np.int64)
        self.keepalive = np.zeros(functions, dtype=np.int64)
        self.count = np.zeros(functions, dtype=np.int64)
        # Rows whose windows are "keep one minute, no pre-warm" from a usable histogram
        # with all its mass at 0 idle minutes (a busy function): another back-to-back
        # minute leaves them so, and recomputing them every minute is what costs.
        self.settled = np.zeros(functions, dtype=bool)

    def _record(self, rows: np.ndarray, t: int) -> None:
        seen = rows[self.last[rows] >= 0]
        gaps = t - self.last[seen] - 1
        inside = gaps < self.range
        np.add.at(self.hist, (seen[inside], gaps[inside]), 1)
        self.oob[seen[~inside]] += 1
        keep = self.config.arima_history
        for f, gap in zip(seen[~inside].tolist(), gaps[~inside].tolist(), strict=True):
            self.oob_history.setdefault(f, []).append(float(gap))
            del self.oob_history[f][:-keep]

    def _percentile(self, hist: np.ndarray, total: np.ndarray, q: float) -> np.ndarray:
        """The bin (idle minutes) at percentile ``q`` of each row's in-range ITs."""
        cum = np.cumsum(hist, axis=1)
        return np.argmax(cum >= (q / 100.0) * total[:, None] - 1e-9, axis=1)

    def _windows(self, rows: np.ndarray) -> None:
        cfg = self.config
        hist = self.hist[rows]
        inside = hist.sum(axis=1)
        total = inside + self.oob[rows]
        # Conservative default: keep alive for the whole range, no pre-warming.
        prewarm = np.zeros(len(rows), dtype=np.int64)
        keepalive = np.full(len(rows), self.range, dtype=np.int64)
        mean = inside / self.range
        cv = np.divide(hist.std(axis=1), mean, out=np.zeros(len(rows)), where=mean > 0)
        usable = (inside >= cfg.min_idle_times) & (cv >= cfg.cv_threshold)
        if usable.any():
            head = self._percentile(hist[usable], inside[usable], cfg.head_percentile)
            tail = self._percentile(hist[usable], inside[usable], cfg.tail_percentile)
            start = np.floor(head * (1.0 - cfg.histogram_margin)).astype(np.int64)
            end = np.ceil(tail * (1.0 + cfg.histogram_margin)).astype(np.int64)
            prewarm[usable] = start
            keepalive[usable] = end + 1 - start
        oob_heavy = (self.oob[rows] > 0) & (self.oob[rows] > cfg.oob_share * total)
        for j in np.flatnonzero(oob_heavy).tolist():
            predicted = next_idle_time(self.oob_history[int(rows[j])])
            begin = math.floor(predicted * (1.0 - cfg.arima_margin))
            finish = math.ceil(predicted * (1.0 + cfg.arima_margin))
            prewarm[j] = begin
            keepalive[j] = finish + 1 - begin
        self.prewarm[rows] = prewarm
        self.keepalive[rows] = keepalive
        self.settled[rows] = usable & ~oob_heavy & (prewarm == 0) & (keepalive == 1)

    def after_minute(self, t: int, demand: np.ndarray, alive: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(demand > 0)
        if rows.size:
            back_to_back = self.last[rows] == t - 1
            self._record(rows, t)
            self.last[rows] = t
            self.count[rows] = demand[rows]
            changed = rows[~(back_to_back & self.settled[rows])]
            if changed.size:
                self._windows(changed)
        gap = (t + 1) - self.last - 1  # idle minutes before minute t + 1
        warm = (self.last >= 0) & (gap >= self.prewarm) & (gap < self.prewarm + self.keepalive)
        return np.where(warm, self.count, 0)
