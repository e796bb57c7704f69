"""The replayed policies: after each minute, how many instances stay warm for the next.

* ``fixed-keepalive``: an instance stays warm ``keepalive_minutes`` (10) after its last
  use, as OpenWhisk and Lambda roughly do.
* ``reactive``: the platform's autoscaler without forecasts. Each minute the live
  :func:`constellation.serverless.decide` gets the function's concurrency and instance
  count; the pool then keeps ``max(decision, instances used within idle_timeout_s)``,
  the live pool's reaping rule.
* ``hybrid-histogram``: Shahrad et al. (ATC 2020), see :mod:`._hybrid`.
* ``predictive``: ``reactive`` with the platform's forecasts of each function's
  concurrency fed to ``decide`` (see :mod:`._replay_forecasts`), as the live autoscaler
  does with ``enable_predictive_scaling``, plus arrival forecasts and keep-alive windows
  for sparse functions (:mod:`._arrivals`) under an idle budget relative to
  ``reactive`` (:mod:`._budget`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from constellation.serverless import (
    AutoscalerConfig,
    Forecast,
    ScalingContext,
    ScalingDecision,
    ScalingPolicy,
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
    # predictive: arrival forecasts for sparse functions (see _arrivals)
    arrival_threshold: float = 0.5
    arrival_prior_weight: float = 2.0
    arrival_peak_minutes: int = 1
    arrival_range_minutes: int = 1500
    # predictive: keep-alive windows for memoryless (Poisson-like) functions (_arrivals)
    #: the share of such a function's calls allowed to start cold (1: no windows)
    keepalive_cold_share: float = 0.4
    #: only functions re-called at least this often (calls per idle minute) get one
    keepalive_min_rate: float = 0.02
    #: ... whose idle times' coefficient of variation is at least this (timers: ~0)
    keepalive_min_cv: float = 0.5
    #: ... once this many idle times are seen
    keepalive_min_gaps: int = 3
    #: idle budget (see _budget): at most this times reactive's idle time (0: no budget)
    budget_ratio: float = 0.97
    budget_step_minutes: int = 60
    budget_factor: float = 1.25
    #: the predictive policy's idle timeout: forecasts, not a timer, keep instances warm
    predictive_idle_timeout_s: float = 60.0

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
        if idle_timeout_s is not None:
            self.policy = dataclasses.replace(self.policy, idle_timeout_s=idle_timeout_s)
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
    """Concurrency forecasts where they are confident, arrival forecasts elsewhere."""

    def __init__(self, *sources: ForecastSource, default_threshold: float) -> None:
        self.sources = sources
        self.default_threshold = default_threshold

    def at(self, minute: int) -> tuple[np.ndarray, ...]:
        value = confidence = None
        for source in self.sources:
            got = source.at(minute)
            threshold = got[2] if len(got) > 2 else self.default_threshold
            usable = got[1] >= threshold
            v = np.where(usable, got[0], 0.0)
            if value is None or confidence is None:
                value, confidence = v, usable.astype(np.float64)
            else:
                value = np.maximum(value, v)
                confidence = np.maximum(confidence, usable)
        assert value is not None and confidence is not None
        return value, confidence, np.full(len(value), 0.5)


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
        from ._arrivals import ArrivalForecasts
        from ._replay_forecasts import ReplayForecasts

        arrivals = ArrivalForecasts(trace, needed, config)
        source = forecasts or CombinedForecasts(
            ReplayForecasts(trace, config),
            arrivals,
            default_threshold=config.confidence_threshold,
        )
        policy = Autoscaled(
            trace,
            config,
            source,
            config.predictive_idle_timeout_s,
        )
        if config.budget_ratio > 0 and forecasts is None:
            from ._budget import IdleBudget

            return IdleBudget(policy, arrivals, trace, config)
        return policy
    raise ValueError(name)
