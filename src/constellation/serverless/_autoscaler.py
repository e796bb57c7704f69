"""The autoscaling policy: a pure function of (metrics, policy, now), in the manner of
Knative's KPA.

* Demand is the observed concurrency (invocations in flight), averaged over a *stable*
  window (60 s) and a *panic* window (6 s).
* Each instance serves one invocation at a time, so its capacity is 1; the policy's
  ``target_concurrency`` is the utilisation target in percent of that capacity (the
  seed's 80 means "add instances when they are 80% busy"): desired = ceil(demand / 0.8).
* Panic: when the panic-window demand needs at least twice the current instances, the
  panic window decides and the count does not go down until 60 s without panic.
* Predictive: with ``enable_predictive_scaling`` and a forecast whose confidence reaches
  its threshold, desired = max(reactive, the count the forecast implies).
* Around the policy: per tick (2 s) the count moves up at most 1000x and down at most 2x,
  and is clamped to [min_instances, max_instances].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._models import ScalingPolicy

__all__ = ["AutoscalerConfig", "Forecast", "ScalingContext", "ScalingDecision", "decide"]


@dataclass(frozen=True)
class AutoscalerConfig:
    stable_window_s: float = 60.0
    panic_window_s: float = 6.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    tick_s: float = 2.0
    lead_time_s: float = 60.0


@dataclass(frozen=True)
class Forecast:
    """Concurrency expected one lead time ahead, and how sure the forecaster is."""

    value: float
    confidence: float
    threshold: float


@dataclass(frozen=True)
class ScalingContext:
    now: float
    current_instances: int
    stable_concurrency: float
    panic_concurrency: float
    policy: ScalingPolicy
    panicking_since: float | None = None
    forecast: Forecast | None = None


@dataclass(frozen=True)
class ScalingDecision:
    desired: int
    reactive: int
    predicted: int | None
    panic: bool
    panicking_since: float | None
    reason: str


def _instances_for(concurrency: float, policy: ScalingPolicy) -> int:
    per_instance = policy.target_concurrency / 100.0
    return math.ceil(max(0.0, concurrency) / per_instance - 1e-9)


def _policy(ctx: ScalingContext, config: AutoscalerConfig) -> ScalingDecision:
    """The unbounded recommendation (bounds and rates are applied by :func:`decide`)."""
    stable = _instances_for(ctx.stable_concurrency, ctx.policy)
    panic_wanted = _instances_for(ctx.panic_concurrency, ctx.policy)
    current = ctx.current_instances
    starts_panic = panic_wanted >= max(1, current) * config.panic_threshold
    since = ctx.panicking_since
    if starts_panic:
        since = ctx.now if since is None else since
    elif since is not None and ctx.now - since >= config.stable_window_s:
        since = None
    panic = since is not None
    if panic:
        reactive = max(panic_wanted, current)  # never scale down while panicking
        reason = f"panic: {ctx.panic_concurrency:.2f} in flight over {config.panic_window_s:.0f}s"
    else:
        reactive = stable
        reason = (
            f"stable: {ctx.stable_concurrency:.2f} in flight over {config.stable_window_s:.0f}s"
        )
    predicted = None
    f = ctx.forecast
    if ctx.policy.enable_predictive_scaling and f is not None and f.confidence >= f.threshold:
        predicted = _instances_for(f.value, ctx.policy)
        if predicted > reactive:
            reason = (
                f"predictive: {f.value:.2f} in flight expected in {config.lead_time_s:.0f}s "
                f"(confidence {f.confidence:.2f} >= {f.threshold:.2f})"
            )
    desired = max(reactive, predicted or 0)
    return ScalingDecision(desired, reactive, predicted, panic, since, reason)


def decide(ctx: ScalingContext, config: AutoscalerConfig | None = None) -> ScalingDecision:
    """The policy's recommendation with rate limits and the policy's bounds applied."""
    cfg = config or AutoscalerConfig()
    raw = _policy(ctx, cfg)
    current = ctx.current_instances
    desired = raw.desired
    reason = raw.reason
    if current > 0:
        highest = math.ceil(current * cfg.max_scale_up_rate)
        lowest = math.floor(current / cfg.max_scale_down_rate)
        if desired > highest:
            desired, reason = highest, reason + f"; capped at {cfg.max_scale_up_rate:g}x up"
        if desired < lowest:
            desired, reason = (
                lowest,
                reason + f"; at most {cfg.max_scale_down_rate:g}x down per tick",
            )
    low, high = ctx.policy.min_instances, ctx.policy.max_instances
    if desired < low:
        desired, reason = low, reason + f"; min_instances {low}"
    if desired > high:
        desired, reason = high, reason + f"; max_instances {high}"
    return ScalingDecision(
        desired, raw.reactive, raw.predicted, raw.panic, raw.panicking_since, reason
    )
