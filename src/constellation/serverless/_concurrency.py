"""Observed concurrency: a time-weighted count of invocations in flight, per second.

The pool calls :meth:`ConcurrencyMeter.change` whenever an invocation starts or ends;
the meter integrates the in-flight count over time into one-second buckets, so the
autoscaler can average demand over any window without sampling on the hot path. The
meter has no lock of its own: its owner (the pool) calls it under the pool's lock.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["ConcurrencyMeter"]


class ConcurrencyMeter:
    def __init__(self, now: float, keep_s: int = 120) -> None:
        self._in_flight = 0
        self._since = now
        self._second = math.floor(now)
        self._area = 0.0  # in-flight x seconds accumulated in the current second
        self._buckets: deque[tuple[int, float]] = deque(maxlen=keep_s)
        self._created = now

    def _advance(self, now: float) -> None:
        keep = self._buckets.maxlen or 0
        if now - self._second > keep + 2:  # a long quiet gap: skip to the buckets we keep
            self._buckets.append(
                (self._second, self._area + self._in_flight * (self._second + 1 - self._since))
            )
            self._second = math.floor(now) - keep
            self._since, self._area = float(self._second), 0.0
        while now >= self._second + 1:
            edge = self._second + 1
            self._area += self._in_flight * (edge - max(self._since, self._second))
            self._buckets.append((self._second, self._area))
            self._second, self._area, self._since = edge, 0.0, edge
        if now > self._since:
            self._area += self._in_flight * (now - self._since)
            self._since = now

    def change(self, delta: int, now: float) -> None:
        self._advance(now)
        self._in_flight = max(0, self._in_flight + delta)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def average(self, window_s: float, now: float) -> float:
        """Mean in-flight count over the last ``window_s`` seconds (or since the meter began,
        when that is shorter: a new function is not diluted by time it did not exist)."""
        self._advance(now)
        start = now - window_s
        first_second = math.floor(start)
        total = self._area  # the current, partial second
        for second, area in self._buckets:
            if second >= first_second:
                total += area
        covered = now - max(first_second, self._created)
        return total / covered if covered > 0 else float(self._in_flight)
