"""The replayed policies: after each minute, how many instances stay warm for the next.

* ``fixed-keepalive``: an instance stays warm ``keepalive_minutes`` (10) after its last
  use, as OpenWhisk and Lambda roughly do.
* ``reactive``: the platform's autoscaler without forecasts. Each minute the live
  :func:`constellation.serverless.decide` gets the function's concurrency and instance
  count; the pool then keeps ``max(decision, instances used within idle_timeout_s)``,
  the live pool's reaping rule.
* ``hybrid-histogram``: Shahrad et al. (ATC 2020), see :mod:`._hybrid`.
* ``predictive``: what the live autoscaler does with ``enable_predictive_scaling``:
  ``decide`` fed the platform's forecasts of each function's concurrency (see
  :mod:`._replay_forecasts`) combined with the arrival forecasts and keep-alive windows
  of :class:`constellation.serverless.ArrivalModel` (:mod:`._arrivals`) by the live
  code's own ``combine_forecasts``, and idle instances above the decision reaped after
  60 s; plus, replay only, an idle budget relative to ``reactive`` (:mod:`._budget`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from constellation.serverless import (
    ArrivalConfig,
    AutoscalerConfig,
    Forecast,
    ScalingContext,
    ScalingDecision,
    ScalingPolicy,
    combine_forecasts,
    decide,
)

from ._trace import Trace

__all__ = [
    "POLICIES",
    "Autoscaled",
    "ForecastSource",
    "ReplayConfig",
    "ReplayPolicy",
    "make_policy",
    "predictive_policy",
    "replay_autoscaler_config",
]

POLICIES = ("fixed-keepalive", "reactive", "hybrid-histogram", "predictive")


@dataclass(frozen=True)
class ReplayConfig:
    """Every constant of the replay; BENCHMARKS.md says how each was chosen."""

    #: fixed-keepalive: minutes an instance stays warm after its last use
    keepalive_minutes: int = 10
    #: reactive/predictive: the function's scaling policy (the platform's defaults)
    scaling_policy: ScalingPolicy = field(default_factory=ScalingPolicy)
    #: seconds a cold start takes (only for counting delayed invocations)
    cold_start_s: float = 1.0
    # hybrid-histogram (the paper's values)
    histogram_range_minutes: int = 240
    head_percentile: float = 5.0
    tail_percentile: float = 99.0
    histogram_margin: float = 0.10
    cv_threshold: float = 2.0
    min_idle_times: int = 10
    oob_share: float = 0.5
    arima_margin: float = 0.15
    arima_history: int = 30
    # predictive: the platform's forecaster, refitted on the trailing history
    forecast_model: str = "mstl"
    forecast_step_minutes: int = 10
    forecast_history_minutes: int = 3 * 1440
    refit_minutes: int = 1440
    first_fit_minute: int = 360
    confidence_threshold: float = 0.8
    #: functions active in fewer of the history's steps are not forecast (nothing to learn)
    min_active_steps: int = 12
    #: ... nor those needing less than this many instances on average (no count to change)
    forecast_min_concurrency: float = 0.5
    # predictive: arrival forecasts for sparse functions and keep-alive windows for
    # memoryless ones: the live autoscaler's ArrivalConfig and its defaults (_arrivals)
    arrival_threshold: float = ArrivalConfig.arrival_threshold
    arrival_prior_weight: float = ArrivalConfig.arrival_prior_weight
    arrival_peak_minutes: int = ArrivalConfig.arrival_peak_minutes
    arrival_range_minutes: int = ArrivalConfig.arrival_range_minutes
    #: the share of such a function's calls allowed to start cold (1: no windows)
    keepalive_cold_share: float = ArrivalConfig.keepalive_cold_share
    #: only functions re-called at least this often (calls per idle minute) get one
    keepalive_min_rate: float = ArrivalConfig.keepalive_min_rate
    #: ... whose idle times' coefficient of variation is at least this (timers: ~0)
    keepalive_min_cv: float = ArrivalConfig.keepalive_min_cv
    #: ... once this many idle times are seen
    keepalive_min_gaps: int = ArrivalConfig.keepalive_min_gaps
    #: idle budget (see _budget): at most this times reactive's idle time (0: no budget)
    budget_ratio: float = 0.97
    budget_step_minutes: int = 60
    budget_factor: float = 1.25
    #: the predictive policy's idle timeout (the scaling policy's when shorter), as live:
    #: forecasts, not a timer, keep instances warm
    predictive_idle_timeout_s: float = ArrivalConfig.idle_timeout_s

    def __post_init__(self) -> None:
        from ._errors import PredictiveValidationError

        for name in (
            "keepalive_minutes",
            "histogram_range_minutes",
            "min_idle_times",
            "arima_history",
            "forecast_step_minutes",
            "forecast_history_minutes",
            "refit_minutes",
            "first_fit_minute",
            "min_active_steps",
            "arrival_peak_minutes",
            "arrival_range_minutes",
            "keepalive_min_gaps",
            "budget_step_minutes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PredictiveValidationError(name, f"{value!r}: expected an integer >= 1")
        for name, low, high in (
            ("cold_start_s", 0.0, 3600.0),
            ("head_percentile", 0.0, 100.0),
            ("tail_percentile", 0.0, 100.0),
            ("histogram_margin", 0.0, 1.0),
            ("cv_threshold", 0.0, 1e6),
            ("oob_share", 0.0, 1.0),
            ("arima_margin", 0.0, 1.0),
            ("confidence_threshold", 0.0, 1.0),
            ("forecast_min_concurrency", 0.0, 1e9),
            ("arrival_threshold", 0.0, 1.0),
            ("arrival_prior_weight", 0.0, 1e9),
            ("predictive_idle_timeout_s", 0.0, 1e9),
            ("keepalive_cold_share", 1e-6, 1.0),
            ("budget_ratio", 0.0, 1e6),
            ("budget_factor", 1.0, 1e6),
            ("keepalive_min_rate", 0.0, 1e9),
            ("keepalive_min_cv", 0.0, 1e9),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (low <= value <= high)
            ):
                raise PredictiveValidationError(
                    name, f"{value!r} is out of range; expected {low:g}-{high:g}"
                )
        from ._ensemble import ALIASES, MODELS

        if self.forecast_model not in (*MODELS, *ALIASES):
            raise PredictiveValidationError(
                "forecast_model",
                f"{self.forecast_model!r} is not a known model; expected one of "
                f"{', '.join(MODELS)}",
            )
        if self.head_percentile > self.tail_percentile:
            raise PredictiveValidationError(
                "head_percentile", f"{self.head_percentile} is above tail_percentile"
            )

    def replace(self, **changes: object) -> ReplayConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def arrival_config(self) -> ArrivalConfig:
        """The live autoscaler's arrival settings that these replay settings give."""
        return ArrivalConfig(
            arrival_threshold=self.arrival_threshold,
            arrival_prior_weight=self.arrival_prior_weight,
            arrival_peak_minutes=self.arrival_peak_minutes,
            arrival_range_minutes=self.arrival_range_minutes,
            keepalive_cold_share=self.keepalive_cold_share,
            keepalive_min_rate=self.keepalive_min_rate,
            keepalive_min_cv=self.keepalive_min_cv,
            keepalive_min_gaps=self.keepalive_min_gaps,
            idle_timeout_s=self.predictive_idle_timeout_s,
        )


def replay_autoscaler_config() -> AutoscalerConfig:
    """The live autoscaler's settings, ticking once a minute: the live one ticks every
    2 s and may halve its count each tick, 30 times a minute, hence 2**30 down."""
    return dataclasses.replace(AutoscalerConfig(), tick_s=60.0, max_scale_down_rate=2.0**30)


class ReplayPolicy(Protocol):
    def after_minute(self, t: int, demand: np.ndarray, alive: np.ndarray) -> np.ndarray:
        """Instances warm at the start of minute ``t + 1`` (``alive`` ran minute ``t``)."""
        ...


class _RecentUse:
    """The most instances used in any of the last ``window`` minutes, per function: with
    most-recently-used reuse (the pools'), that is how many were used within the window."""

    def __init__(self, functions: int, window: int) -> None:
        self.ring = np.zeros((max(1, window), functions), dtype=np.int64)

    def push(self, t: int, demand: np.ndarray) -> np.ndarray:
        self.ring[t % len(self.ring)] = demand
        return self.ring.max(axis=0)


class FixedKeepAlive:
    def __init__(self, trace: Trace, config: ReplayConfig) -> None:
        self.recent = _RecentUse(len(trace.functions), config.keepalive_minutes)

    def after_minute(self, t: int, demand: np.ndarray, alive: np.ndarray) -> np.ndarray:
        return self.recent.push(t, demand)


class Autoscaled:
    """The live autoscaler's decision each minute, and the live pool's reaping."""

    def __init__(
        self,
        trace: Trace,
        config: ReplayConfig,
        forecasts: ForecastSource | None = None,
        idle_timeout_s: float | None = None,
    ) -> None:
        self.trace = trace
        self.policy = dataclasses.replace(
            config.scaling_policy, enable_predictive_scaling=forecasts is not None
        )
        if idle_timeout_s is not None:  # the live pool's reap_after_s: the shorter one
            shorter = min(self.policy.idle_timeout_s, idle_timeout_s)
            self.policy = dataclasses.replace(self.policy, idle_timeout_s=shorter)
        self.config = replay_autoscaler_config()
        self.forecasts = forecasts
        self.threshold = config.confidence_threshold
        window = math.ceil(self.policy.idle_timeout_s / 60.0 - 1e-9)
        self.recent = _RecentUse(len(trace.functions), window)
        self.panicking_since: dict[int, float] = {}
        #: the last minute's decisions by function row (what the live autoscaler logs)
        self.decisions: dict[int, ScalingDecision] = {}
        self._cache: dict[tuple[object, ...], ScalingDecision] = {}

    def after_minute(self, t: int, demand: np.ndarray, alive: np.ndarray) -> np.ndarray:
        recent = self.recent.push(t, demand)
        concurrency = self.trace.invocations[:, t] * self.trace.duration_ms[:, t] / 60_000.0
        wanted = np.full(len(demand), self.policy.min_instances, dtype=np.int64)
        busy = (concurrency > 0) | (alive > 0)
        forecast = None
        if self.forecasts is not None:
            got = self.forecasts.at(t + 1)
            thresholds = got[2] if len(got) > 2 else np.full(len(demand), self.threshold)
            forecast = (got[0], got[1], thresholds)
            busy |= (forecast[1] >= thresholds) & (forecast[1] > 0)
        if self.panicking_since:
            busy[list(self.panicking_since)] = True
        now = t * 60.0 + 60.0  # the decision is made at the end of minute t
        self.decisions = {}
        rows = np.flatnonzero(busy)
        currents = alive[rows].tolist()
        levels = concurrency[rows].tolist()
        if forecast is not None:
            f_value = forecast[0][rows].tolist()
            f_conf = forecast[1][rows].tolist()
            f_threshold = forecast[2][rows].tolist()
        desired = []
        cache = self._cache
        for j, i in enumerate(rows.tolist()):
            fc = None
            if forecast is not None and f_conf[j] > 0:
                fc = (f_value[j], f_conf[j], f_threshold[j])
            since = self.panicking_since.get(i)
            key = (currents[j], levels[j], fc)
            decision = cache.get(key) if since is None else None
            if decision is None:
                ctx = ScalingContext(
                    now,
                    currents[j],
                    levels[j],
                    levels[j],
                    self.policy,
                    since,
                    None if fc is None else Forecast(*fc),
                )
                decision = decide(ctx, self.config)
                if since is None and decision.panicking_since is None:
                    # Without panic, decide() does not read ``now``: the same inputs
                    # give the same decision at any minute, so it is looked up next time.
                    if len(cache) > 1_000_000:
                        cache.clear()
                    cache[key] = decision
            self.decisions[i] = decision
            desired.append(decision.desired)
            if decision.panicking_since is None:
                self.panicking_since.pop(i, None)
            else:
                self.panicking_since[i] = decision.panicking_since
        wanted[rows] = desired
        # Reaping: instances idle under idle_timeout_s stay; the decision is a floor,
        # and the autoscaler starts instances up to it (pre-warming).
        return np.maximum(wanted, np.minimum(alive, recent))


class ForecastSource(Protocol):
    def at(self, minute: int) -> tuple[np.ndarray, ...]:
        """(expected concurrency, confidence[, threshold]) of every function in
        ``minute``; without thresholds, ``confidence_threshold`` applies."""
        ...


class CombinedForecasts:
    """Concurrency forecasts and arrival forecasts as one, by the live autoscaler's
    :func:`constellation.serverless.combine_forecasts`."""

    def __init__(self, *sources: ForecastSource, default_threshold: float) -> None:
        self.sources = sources
        self.default_threshold = default_threshold

    def at(self, minute: int) -> tuple[np.ndarray, ...]:
        got = []
        for source in self.sources:
            f = source.at(minute)
            threshold = f[2] if len(f) > 2 else np.full(len(f[0]), self.default_threshold)
            got.append((f[0], f[1], threshold))
        return combine_forecasts(got)


def make_policy(
    name: str,
    trace: Trace,
    needed: np.ndarray,
    config: ReplayConfig,
    forecasts: ForecastSource | None = None,
) -> ReplayPolicy:
    if name == "fixed-keepalive":
        return FixedKeepAlive(trace, config)
    if name == "reactive":
        return Autoscaled(trace, config)
    if name == "hybrid-histogram":
        from ._hybrid import HybridHistogram

        return HybridHistogram(trace, needed, config)
    if name == "predictive":
        if forecasts is not None:  # the caller's forecasts replace the policy's own
            return Autoscaled(trace, config, forecasts, config.predictive_idle_timeout_s)
        from ._replay_forecasts import ReplayForecasts

        return predictive_policy(trace, needed, config, ReplayForecasts(trace, config))
    raise ValueError(name)


def predictive_policy(
    trace: Trace,
    needed: np.ndarray,
    config: ReplayConfig,
    concurrency: ForecastSource,
) -> ReplayPolicy:
    """The ``predictive`` policy over the concurrency forecasts ``concurrency``: the live
    autoscaler's arrival forecasts combined with them, and the idle budget when on."""
    from ._arrivals import ArrivalForecasts

    arrivals = ArrivalForecasts(trace, needed, config)
    source = CombinedForecasts(concurrency, arrivals, default_threshold=config.confidence_threshold)
    policy = Autoscaled(trace, config, source, config.predictive_idle_timeout_s)
    if config.budget_ratio > 0:
        from ._budget import IdleBudget

        return IdleBudget(policy, arrivals, trace, config)
    return policy
