"""Rolling statistics in O(1) or O(log n) per value: moments, EWM moments, sorted windows.

Sums are kept relative to an anchor value taken from the data (the "shifted data"
algorithm): it avoids the catastrophic cancellation of ``sum(x^2) - sum(x)^2 / n`` and
makes every statistic exactly shift-invariant when the inputs are integers, which the
property tests rely on. The anchor is refreshed each time the window has turned over.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable

__all__ = ["EwmMoments", "RollingMoments", "SortedWindow", "kth_of_two_sorted"]


class RollingMoments:
    """Mean and variance over the last ``window`` values (all values when ``window`` is None)."""

    def __init__(self, window: int | None) -> None:
        self.window = window
        self._values: deque[float] = deque()
        self._anchor = 0.0
        self._s1 = 0.0  # sum of (x - anchor)
        self._s2 = 0.0  # sum of (x - anchor)^2
        self._n = 0
        self._since_anchor = 0

    def __len__(self) -> int:
        return self._n

    def add(self, x: float) -> None:
        if self._n == 0:
            self._anchor = x
        d = x - self._anchor
        self._s1 += d
        self._s2 += d * d
        self._n += 1
        if self.window is not None:
            self._values.append(x)
            if self._n > self.window:
                old = self._values.popleft() - self._anchor
                self._s1 -= old
                self._s2 -= old * old
                self._n -= 1
            self._since_anchor += 1
            if self._since_anchor >= self.window:
                self._reanchor()

    def _reanchor(self) -> None:
        # O(window) once per `window` values: amortised O(1).
        self._anchor = self._values[0]
        diffs = [v - self._anchor for v in self._values]
        self._s1 = math.fsum(diffs)
        self._s2 = math.fsum(d * d for d in diffs)
        self._since_anchor = 0

    @property
    def mean(self) -> float:
        return self._anchor + self._s1 / self._n if self._n else 0.0

    def deviation(self, x: float) -> float:
        """``x - mean``, computed relative to the anchor (exactly shift-invariant)."""
        return (x - self._anchor) - (self._s1 / self._n if self._n else 0.0)

    @property
    def variance(self) -> float:
        """The sample variance (n - 1), 0 with fewer than two values."""
        if self._n < 2:
            return 0.0
        return max(self._s2 - self._s1 * self._s1 / self._n, 0.0) / (self._n - 1)

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


class EwmMoments:
    """Exponentially weighted mean and variance with smoothing ``alpha`` (0 < alpha <= 1)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self._anchor = 0.0
        self._mean = 0.0  # relative to the anchor
        self._var = 0.0
        self.n = 0

    def add(self, x: float) -> None:
        if self.n == 0:
            self._anchor = x
        d = x - self._anchor - self._mean
        # West's incremental EW variance; the first value sets the mean exactly.
        incr = self.alpha * d
        self._mean += incr
        self._var = (1 - self.alpha) * (self._var + d * incr)
        self.n += 1

    @property
    def mean(self) -> float:
        return self._anchor + self._mean

    def deviation(self, x: float) -> float:
        """``x - mean``, computed relative to the anchor (exactly shift-invariant)."""
        return (x - self._anchor) - self._mean

    @property
    def variance(self) -> float:
        return self._var

    @property
    def std(self) -> float:
        return math.sqrt(self._var)


def kth_of_two_sorted(
    a: Callable[[int], float], len_a: int, b: Callable[[int], float], len_b: int, k: int
) -> float:
    """The k-th smallest (0-based) of the union of two ascending sequences, in O(log n)."""
    lo, hi = max(0, k + 1 - len_b), min(k + 1, len_a)
    while lo < hi:  # i = how many of the k + 1 smallest come from `a`
        i = (lo + hi) // 2
        if a(i) < b(k - i):
            lo = i + 1
        else:
            hi = i
    i, j = lo, k + 1 - lo
    left = a(i - 1) if i > 0 else -math.inf
    right = b(j - 1) if j > 0 else -math.inf
    return max(left, right)


class SortedWindow:
    """The last ``window`` values kept sorted: quantiles in O(1), median deviation in O(log n).

    Inserting shifts a Python list (a memmove: fast for windows of thousands of values).
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, x: float) -> None:
        bisect.insort(self._sorted, x)
        self._order.append(x)
        if len(self._order) > self.window:
            old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def quantile(self, q: float) -> float:
        """Linear interpolation between closest ranks (numpy's default method)."""
        values = self._sorted
        pos = q * (len(values) - 1)
        low = math.floor(pos)
        high = min(low + 1, len(values) - 1)
        frac = pos - low
        return values[low] + (values[high] - values[low]) * frac

    @property
    def median(self) -> float:
        values = self._sorted
        half = len(values) // 2
        if len(values) % 2:
            return values[half]
        return (values[half - 1] + values[half]) / 2 if values else 0.0

    def mad(self, median: float | None = None) -> float:
        """The median absolute deviation from the median (unscaled), in O(log n).

        Deviations below the median, read from the split point leftwards, and those
        above it, read rightwards, are two ascending sequences: the MAD is the median
        of their union, found by one binary search (see :func:`kth_of_two_sorted`).
        """
        values = self._sorted
        n = len(values)
        if n == 0:
            return 0.0
        m = self.median if median is None else median
        split = bisect.bisect_left(values, m)
        n_left, n_right = split, n - split
        k = (n - 1) // 2  # the lower median's rank
        lo, hi = max(0, k + 1 - n_right), min(k + 1, n_left)
        while lo < hi:  # i = how many of the k + 1 smallest deviations lie left of m
            i = (lo + hi) // 2
            if m - values[split - 1 - i] < values[split + k - i] - m:
                lo = i + 1
            else:
                hi = i
        i, j = lo, k + 1 - lo
        left = m - values[split - i] if i > 0 else -math.inf
        right = values[split + j - 1] - m if j > 0 else -math.inf
        kth = max(left, right)
        if n % 2:
            return kth
        # the next deviation: the smaller of the next one on either side
        next_left = m - values[split - 1 - i] if i < n_left else math.inf
        next_right = values[split + j] - m if j < n_right else math.inf
        return (kth + min(next_left, next_right)) / 2
