"""The trace replayer: policies side by side on a simulated clock, one step per minute.

Model of a minute (the granularity of the Azure Functions 2019 trace, as in Shahrad et
al., ATC 2020): a function with ``n`` invocations of mean duration ``d`` ms needs
``ceil(n * d / 60000)`` instances (one invocation per instance at a time, as the
platform's pools run them; at least one when ``n > 0``). The instances a policy kept
warm from the minute before serve first; each missing one is a cold start. After the
minute the policy decides how many instances are warm for the next one. Idle
instance-seconds are the instance-seconds not spent running invocations.

Every policy is stepped for all functions at once with numpy; ``reactive`` and
``predictive`` call the live autoscaler's own :func:`constellation.serverless.decide`
for each function with demand or instances (see :mod:`._replay_policies`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ._errors import PredictiveValidationError
from ._replay_policies import POLICIES, ForecastSource, ReplayConfig, make_policy
from ._trace import Trace

__all__ = [
    "POLICIES",
    "PolicyReport",
    "ReplayConfig",
    "ReplayReport",
    "needed_instances",
    "simulate",
]


@dataclass(frozen=True)
class PolicyReport:
    """One policy's replay. Percentages are per function (functions with invocations)."""

    cold_start_pct_p50: float
    cold_start_pct_p75: float
    cold_starts: int
    delayed_invocations: int
    idle_instance_seconds: float
    instance_seconds: float
    invocations: int
    functions: int
    simulated_minutes: int
    minutes_per_second: float
    wall_seconds: float
    cold_start_pct: list[float] = field(repr=False, default_factory=list)

    def as_dict(self, per_function: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not per_function:
            out.pop("cold_start_pct")
        return out


@dataclass(frozen=True)
class ReplayReport:
    policies: dict[str, PolicyReport]
    functions: list[str]
    minutes: int

    def as_dict(self, per_function: bool = False) -> dict[str, Any]:
        return {
            "functions": len(self.functions),
            "minutes": self.minutes,
            "policies": {k: v.as_dict(per_function) for k, v in self.policies.items()},
        }


def needed_instances(trace: Trace) -> np.ndarray:
    """Instances each function needs in each minute (functions x minutes, int64)."""
    concurrency = trace.invocations * trace.duration_ms / 60_000.0
    needed = np.ceil(concurrency - 1e-9).astype(np.int64)
    return np.where(trace.invocations > 0, np.maximum(needed, 1), 0)


def _run(
    trace: Trace,
    needed: np.ndarray,
    name: str,
    config: ReplayConfig,
    forecasts: ForecastSource | None,
) -> PolicyReport:
    started = time.perf_counter()
    policy = make_policy(name, trace, needed, config, forecasts)
    functions, minutes = needed.shape
    invocations = trace.invocations
    busy_seconds = invocations * trace.duration_ms / 1000.0
    # A cold-started instance delays the invocation it serves and those that reach it
    # while it starts (its share of the minute's calls over the cold-start latency).
    queue_share = min(1.0, config.cold_start_s / 60.0)
    cold_per_fn = np.zeros(functions)
    instance_minutes = 0.0
    idle = 0.0
    delayed = 0.0
    warm = np.zeros(functions, dtype=np.int64)
    for t in range(minutes):
        demand = needed[:, t]
        cold = np.maximum(demand - warm, 0)
        alive = np.maximum(warm, demand)
        instance_minutes += float(alive.sum())
        idle += float(np.maximum(alive * 60.0 - busy_seconds[:, t], 0.0).sum())
        if cold.any():
            cold_per_fn += cold
            calls = invocations[:, t]
            share = np.divide(cold, demand, out=np.zeros(functions), where=demand > 0)
            queued = np.round(calls * share * queue_share)
            delayed += float(np.minimum(calls, np.maximum(cold, queued)).sum())
        warm = policy.after_minute(t, demand, alive)
    per_fn_calls = invocations.sum(axis=1)
    per_fn_cold = np.minimum(cold_per_fn, per_fn_calls)
    called = per_fn_calls > 0
    pct = 100.0 * per_fn_cold[called] / per_fn_calls[called]
    wall = time.perf_counter() - started
    return PolicyReport(
        cold_start_pct_p50=float(np.percentile(pct, 50)) if pct.size else 0.0,
        cold_start_pct_p75=float(np.percentile(pct, 75)) if pct.size else 0.0,
        cold_starts=int(per_fn_cold.sum()),
        delayed_invocations=int(delayed),
        idle_instance_seconds=round(idle, 3),
        instance_seconds=round(instance_minutes * 60.0, 3),
        invocations=round(float(per_fn_calls.sum())),
        functions=int(called.sum()),
        simulated_minutes=minutes,
        minutes_per_second=round(minutes / wall, 1) if wall > 0 else float("inf"),
        wall_seconds=round(wall, 3),
        cold_start_pct=[float(p) for p in pct],
    )


def simulate(
    trace: Trace | str | Sequence[str],
    policies: Sequence[str] | str = "all",
    config: ReplayConfig | None = None,
    *,
    forecasts: ForecastSource | None = None,
) -> ReplayReport:
    """Replay ``trace`` (a :class:`Trace` or CSV path(s)) through each policy.

    ``policies`` is ``"all"``, one name or a list of names from :data:`POLICIES`.
    ``forecasts`` replaces the ``predictive`` policy's own forecaster: an object whose
    ``at(minute)`` returns (expected concurrency, confidence) arrays, one per function.
    """
    from ._trace import read_traces

    if isinstance(trace, str):
        trace = read_traces([trace])
    elif not isinstance(trace, Trace):
        trace = read_traces(list(trace))
    names = (
        list(POLICIES)
        if policies == "all"
        else [policies]
        if isinstance(policies, str)
        else list(policies)
    )
    for name in names:
        if name not in POLICIES:
            raise PredictiveValidationError.choice("policy", name, ("all", *POLICIES))
    if not names:
        raise PredictiveValidationError("policy", "expected at least one policy")
    config = config or ReplayConfig()
    needed = needed_instances(trace)
    reports = {name: _run(trace, needed, name, config, forecasts) for name in names}
    return ReplayReport(reports, list(trace.functions), trace.minutes)
