"""Observed concurrency: a time-weighted count of invocations in flight, per second.

The pool calls :meth:`ConcurrencyMeter.change` whenever an invocation starts or ends;
the meter integrates the in-flight count over time into one-second buckets, so the
autoscaler can average demand over any window without sampling on the hot path. It
also counts the invocations started in each second, and keeps only the seconds with
something in them (the last ``keep_s`` such seconds): :meth:`activity` reads them back
to the predictive autoscaler, which learns a function's idle times minute by minute
(a sparse function's last call is still there after a long quiet gap). The meter has
no lock of its own: its owner (the pool) calls it under the pool's lock.
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
        self._starts = 0  # invocations started in the current second
        # (second, in-flight x seconds, starts) of the last keep_s seconds with either
        self._buckets: deque[tuple[int, float, int]] = deque(maxlen=keep_s)
        self._keep = keep_s
        self._created = now

    def _close(self, second: int, area: float) -> None:
        if area > 0 or self._starts:
            self._buckets.append((second, area, self._starts))
        self._starts = 0

    def _advance(self, now: float) -> None:
        keep = self._keep
        if now - self._second > keep + 2:  # a long quiet gap: skip to the seconds we keep
            self._close(
                self._second, self._area + self._in_flight * (self._second + 1 - self._since)
            )
            self._second = math.floor(now) - keep
            self._since, self._area = float(self._second), 0.0
        while now >= self._second + 1:
            edge = self._second + 1
            self._area += self._in_flight * (edge - max(self._since, self._second))
            self._close(self._second, self._area)
            self._second, self._area, self._since = edge, 0.0, edge
        if now > self._since:
            self._area += self._in_flight * (now - self._since)
            self._since = now

    def change(self, delta: int, now: float) -> None:
        self._advance(now)
        if delta > 0:
            self._starts += delta
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
        for second, area, _ in reversed(self._buckets):
            if second < first_second:
                break
            total += area
        covered = now - max(first_second, self._created)
        return total / covered if covered > 0 else float(self._in_flight)

    def activity(self, after: int, now: float) -> list[tuple[int, float, int]]:
        """(second, in-flight x seconds, invocations started) of each whole second after
        ``after`` and before ``now`` that had any, oldest first (up to ``keep_s`` of them)."""
        self._advance(now)
        out = []
        for bucket in reversed(self._buckets):
            if bucket[0] <= after:
                break
            out.append(bucket)
        out.reverse()
        return out
