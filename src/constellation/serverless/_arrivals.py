"""Arrival forecasts and keep-alive windows: the predictive autoscaler's decision code for
functions too sparse for a concurrency forecast, shared by the live autoscaler
(:mod:`._keepwarm` feeds it one function's minutes) and the trace replayer's
``predictive`` policy (``constellation.predictive``, every function of a trace at once).

The question for a sparse function is not "how many calls" but "will one come now". The
model keeps a per-function histogram of idle times (whole idle minutes between active
minutes, up to ``arrival_range_minutes``: a day and an hour, so daily timers are
learned) and answers with the *hazard*: the probability of a call in minute ``m`` given
that the function has been idle ``g`` minutes,

    P(IT = g | IT >= g) = (hist[g] + a * p(g)) / (hist[g] + hist[g+1] + ... + a)

smoothed towards ``p(g)``, the hazard pooled over gaps of ``g`` minutes or more (ITs of
at least ``g`` per idle minute spent at such gaps), with ``a`` pseudo-counts
(``arrival_prior_weight``). Idle times beyond the range get the pooled hazard. A timer
has a hazard near 1 at its period and near 0 elsewhere; a Poisson function has a flat
hazard of ``1 - exp(-rate)``.

The forecast it gives the autoscaler is, right after an active minute, the function's
recent peak need (the most instances any of its last ``arrival_peak_minutes`` active
minutes needed), and after a gap one instance (the first call back), with that hazard
as confidence and ``arrival_threshold`` (0.5) as the threshold: the autoscaler keeps
the instances warm when a call is at least that likely. At 0.5 that happens only at a
learnt pattern's own minute (a timer's tick), not minutes ahead.

**Keep-alive for memoryless functions.** A function whose calls come at random (idle
times with a coefficient of variation of at least ``keepalive_min_cv``) has the same
chance of a call in every minute; no forecast can say when, and a cold start is avoided
only by having an instance warm. Its re-arrival rate ``r`` (the pooled hazard after one
idle minute: calls per idle minute) is estimated once it has ``keepalive_min_gaps`` idle
times. When ``r >= min_rate`` (``keepalive_min_rate`` unless an idle budget moved it)
the function keeps one instance warm for ``K = ceil(ln(1 / keepalive_cold_share) / r)``
idle minutes after each call: a call comes within ``K`` minutes with probability
``1 - keepalive_cold_share``, so about that share of its calls start cold, at an idle
cost of about ``1 - keepalive_cold_share`` of the minutes.

:func:`combine_forecasts` merges these with the concurrency forecasts (the larger
confident value wins). Every constant was chosen on the replay's tuning populations
(BENCHMARKS.md, "Trace replay").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError

__all__ = ["COMBINED_THRESHOLD", "ArrivalConfig", "ArrivalModel", "combine_forecasts"]

# The threshold of a combined forecast, whose confidence is 1 (a source was confident) or 0.
COMBINED_THRESHOLD = 0.5


@dataclass(frozen=True)
class ArrivalConfig:
    """The arrival model's constants (the replay's ``ReplayConfig`` carries the same)."""

    arrival_threshold: float = 0.5
    arrival_prior_weight: float = 2.0
    arrival_peak_minutes: int = 1
    arrival_range_minutes: int = 1500
    #: the share of a memoryless function's calls allowed to start cold (1: no windows)
    keepalive_cold_share: float = 0.4
    #: only functions re-called at least this often (calls per idle minute) get a window
    keepalive_min_rate: float = 0.02
    #: ... whose idle times' coefficient of variation is at least this (timers: ~0)
    keepalive_min_cv: float = 0.5
    #: ... once this many idle times are seen
    keepalive_min_gaps: int = 3
    #: a predictive function's idle instances above the decision go after this long (or
    #: the policy's ``idle_timeout_s`` when shorter): forecasts, not a timer, keep them
    idle_timeout_s: float = 60.0
    #: live only: the autoscaler's minutes begin this many seconds before the clock's, so
    #: an instance warmed for a minute (a timer's tick at :00) is started before it
    lead_s: int = 10

    def __post_init__(self) -> None:
        for name in ("arrival_peak_minutes", "arrival_range_minutes", "keepalive_min_gaps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, f"{value!r}: expected an integer >= 1")
        if isinstance(self.lead_s, bool) or not isinstance(self.lead_s, int):
            raise ValidationError("lead_s", f"{self.lead_s!r}: expected whole seconds")
        if not 0 <= self.lead_s < 60:
            raise ValidationError("lead_s", f"{self.lead_s!r}: expected 0-59 seconds")
        for name, low, high in (
            ("arrival_threshold", 0.0, 1.0),
            ("arrival_prior_weight", 0.0, 1e9),
            ("keepalive_cold_share", 1e-6, 1.0),
            ("keepalive_min_rate", 0.0, 1e9),
            ("keepalive_min_cv", 0.0, 1e9),
            ("idle_timeout_s", 0.0, 1e9),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (low <= value <= high)
            ):
                raise ValidationError(name, f"{value!r} is out of range; expected {low:g}-{high:g}")

    def replace(self, **changes: object) -> ArrivalConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class ArrivalModel:
    """Per-minute arrival forecasts for ``functions`` rows (one per function)."""

    def __init__(self, functions: int, config: ArrivalConfig | None = None) -> None:
        config = config or ArrivalConfig()
        self.config = config
        self.range = config.arrival_range_minutes
        self.hist = np.zeros((functions, self.range + 1), dtype=np.int32)
        self.tail = np.zeros((functions, self.range + 1), dtype=np.int32)
        # exposure[g]: idle minutes spent at a gap of g or more (each IT of L minutes
        # adds L - g + 1 for every g <= L): tail[g] / exposure[g] is the hazard beyond g
        # if it were constant there, the estimate pooled over all longer gaps.
        self.exposure = np.zeros((functions, self.range + 1), dtype=np.float64)
        self.countdown = np.arange(self.range + 1, dtype=np.float64)
        self.last = np.full(functions, -1, dtype=np.int64)
        self.first = np.full(functions, -1, dtype=np.int64)
        self.active_minutes = np.zeros(functions, dtype=np.int64)
        self.peaks = np.zeros((max(1, config.arrival_peak_minutes), functions), dtype=np.int64)
        self.peak_slot = np.zeros(functions, dtype=np.int64)
        self.rows = np.arange(functions)
        #: the lowest re-arrival rate given a keep-alive window (an idle budget moves it)
        self.min_rate = config.keepalive_min_rate
        # idle times of at least one minute: count, sum, sum of squares (their CV)
        self.gap_n = np.zeros(functions, dtype=np.float64)
        self.gap_s1 = np.zeros(functions, dtype=np.float64)
        self.gap_s2 = np.zeros(functions, dtype=np.float64)

    def observe(self, t: int, demand: np.ndarray) -> None:
        """Take in minute ``t``: the instances each function needed (0: idle). Minutes
        come in increasing order; idle minutes may be skipped."""
        rows = np.flatnonzero(demand > 0)
        if rows.size == 0:
            return
        seen = rows[self.last[rows] >= 0]
        lengths = t - self.last[seen] - 1
        gaps = np.minimum(lengths, self.range)  # the last bin: beyond range
        np.add.at(self.hist, (seen, gaps), 1)
        # tail[g] = ITs of at least g minutes (the hazard's denominator): an IT of g adds
        # one to tail[0..g]. Back-to-back minutes (g = 0, the busy functions) at once;
        # longer gaps are few, one at a time.
        back_to_back = gaps == 0
        self.tail[seen[back_to_back], 0] += 1
        self.exposure[seen[back_to_back], 0] += 1.0
        for row, gap, length in zip(
            seen[~back_to_back].tolist(),
            gaps[~back_to_back].tolist(),
            lengths[~back_to_back].tolist(),
            strict=True,
        ):
            self.tail[row, : gap + 1] += 1
            self.exposure[row, : gap + 1] += length + 1 - self.countdown[: gap + 1]
            self.gap_n[row] += 1.0
            self.gap_s1[row] += length
            self.gap_s2[row] += float(length) * length
        fresh = rows[self.first[rows] < 0]
        self.first[fresh] = t
        self.last[rows] = t
        self.active_minutes[rows] += 1
        slot = self.peak_slot[rows]
        self.peaks[slot, rows] = demand[rows]
        self.peak_slot[rows] = (slot + 1) % len(self.peaks)

    def forecast(self, minute: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(instances, hazard, threshold) for ``minute``, from the minutes observed before it."""
        cfg = self.config
        gap = np.clip(minute - self.last - 1, 0, self.range)
        hits = self.hist[self.rows, gap]
        at_least = self.tail[self.rows, gap]
        exposure = self.exposure[self.rows, gap]
        # The prior: the hazard pooled over this gap and all longer ones (a Poisson
        # function's rate; after a burst, only the long quiet gaps count).
        pooled = np.divide(at_least, exposure, out=np.zeros(len(gap)), where=exposure > 0)
        a = cfg.arrival_prior_weight
        hazard = (hits + a * pooled) / (at_least + a)
        hazard = np.where(gap >= self.range, pooled, hazard)
        hazard = np.where(self.last >= 0, hazard, 0.0)
        # Continuing a busy run: its recent peak need; the first call after a gap: one.
        value = np.where(gap == 0, self.peaks.max(axis=0), 1).astype(np.float64)
        window = self.keepalive_minutes()
        kept = (self.last >= 0) & (minute - self.last - 1 < window)
        hazard = np.where(kept, np.maximum(hazard, 1.0), hazard)
        return value, hazard, np.full(len(value), cfg.arrival_threshold)

    def keepalive_minutes(self) -> np.ndarray:
        """Each function's keep-alive window (idle minutes; 0: none), see the module doc."""
        cfg = self.config
        if cfg.keepalive_cold_share >= 1.0:
            return np.zeros(len(self.last), dtype=np.int64)
        n = np.maximum(self.gap_n, 1.0)
        mean = self.gap_s1 / n
        var = np.maximum(self.gap_s2 / n - mean * mean, 0.0)
        cv = np.divide(np.sqrt(var), mean, out=np.zeros(len(n)), where=mean > 0)
        exposure = self.exposure[:, 1]
        rate = np.divide(self.tail[:, 1], exposure, out=np.zeros(len(n)), where=exposure > 0)
        eligible = (self.gap_n >= cfg.keepalive_min_gaps) & (cv >= cfg.keepalive_min_cv)
        eligible &= rate >= self.min_rate
        minutes = np.ceil(np.log(1.0 / cfg.keepalive_cold_share) / np.maximum(rate, 1e-12))
        return np.where(eligible, minutes, 0).astype(np.int64)


def combine_forecasts(
    sources: Sequence[tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several forecasts of the same functions as one: each source is (value, confidence,
    threshold) arrays; a source counts where its confidence reaches its threshold, and the
    result is the largest counted value with confidence 1 (0 and value 0 where none
    counts) and the threshold :data:`COMBINED_THRESHOLD`."""
    value = confidence = None
    for source in sources:
        usable = source[1] >= source[2]
        v = np.where(usable, source[0], 0.0)
        if value is None or confidence is None:
            value, confidence = v, usable.astype(np.float64)
        else:
            value = np.maximum(value, v)
            confidence = np.maximum(confidence, usable)
    if value is None or confidence is None:
        raise ValueError("combine_forecasts needs at least one source")
    return value, confidence, np.full(len(value), COMBINED_THRESHOLD)
