"""The replay and the live autoscaler make the same decision for the same inputs.

The live :class:`Autoscaler` ticks over stand-in pools (their demand, counts, policy and
the seconds their calls ran or started given here; no processes); the replay's
``reactive``/``predictive`` policy steps one minute with the same concurrency, instance
count, forecasts and clock. Both go through ``constellation.serverless.decide``, and the
``predictive`` ones through the same arrival model (``ArrivalModel``: keep-alive windows,
warm-ups at a timer's tick) and ``combine_forecasts``; these tests check that neither
adds its own logic between its inputs and those calls, one step and then minute by
minute over a hand-made trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from constellation.predictive import ReplayConfig, Trace
from constellation.predictive._replay import needed_instances
from constellation.predictive._replay_policies import (
    Autoscaled,
    predictive_policy,
    replay_autoscaler_config,
)
from constellation.serverless import Forecast, FunctionInfo, ScalingDecision, ScalingPolicy
from constellation.serverless._pool import PoolCounts
from constellation.serverless._scaler import Autoscaler
from constellation.telemetry import Telemetry


@dataclass
class StandInPool:
    info: FunctionInfo
    concurrency: float
    instances: int
    autoscale_target: int = 0
    reap_after_s: float | None = None
    filled: list[int] = field(default_factory=list)
    # (second, instance-seconds in flight, calls started): what the meter would have seen
    seconds: list[tuple[int, float, int]] = field(default_factory=list)

    def demand(self, window_s: float, now: float) -> float:
        return self.concurrency  # the same mean over every window: a per-minute trace's view

    def counts(self) -> PoolCounts:
        return PoolCounts(idle=self.instances, busy=0, starting=0)

    def fill(self, target: int) -> None:
        self.filled.append(target)

    def activity(self, after: int, now: float) -> list[tuple[int, float, int]]:
        return [s for s in self.seconds if after < s[0] < math.floor(now)]

    def ran(self, trace: Trace, row: int, minute: int) -> None:
        """The calls of the trace's ``minute`` (all in its first second)."""
        calls = float(trace.invocations[row, minute])
        if calls > 0:
            busy = calls * float(trace.duration_ms[row, minute]) / 1000.0
            self.seconds.append((minute * 60, busy, round(calls)))


class StandInStore:
    def execute(self, sql: str, params: Any = ()) -> None:
        pass


@dataclass
class StandInService:
    pool_list: list[StandInPool]
    telemetry: Telemetry = field(default_factory=Telemetry)
    _store: StandInStore = field(default_factory=StandInStore)

    def pools(self) -> list[StandInPool]:
        return self.pool_list

    def clock(self) -> float:
        raise AssertionError("the test passes the time")


def info(policy: ScalingPolicy, fid: str = "fn-1", name: str = "f") -> FunctionInfo:
    return FunctionInfo(
        fid, name, "python", "h", "src", "hash", "m:h", 128, 30, 100, {},
        policy, False, 0, 1, "deployed", 0.0, 0.0,
    )  # fmt: skip


class OneForecast:
    def __init__(self, value: float, confidence: float) -> None:
        self.value, self.confidence = value, confidence

    def at(self, minute: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array([self.value]), np.array([self.confidence])


@pytest.mark.parametrize(
    ("concurrency", "instances", "forecast"),
    [
        (0.5, 0, None),  # scale from zero
        (7.5, 2, None),  # panic: the demand needs far more than there are
        (0.0, 12, None),  # scale down
        (1.2, 3, (9.0, 0.95)),  # a confident forecast raises the count
        (1.2, 3, (9.0, 0.4)),  # an unsure one does not
        (3000.0, 4, None),  # max_instances caps it
    ],
)
def test_the_replay_and_the_live_autoscaler_decide_alike(
    concurrency: float, instances: int, forecast: tuple[float, float] | None
) -> None:
    minute = 41
    now = minute * 60.0 + 60.0  # the replay decides at the end of the minute
    config = ReplayConfig(
        scaling_policy=ScalingPolicy(max_instances=40, target_concurrency=80), budget_ratio=0.0
    )
    predictive = forecast is not None
    policy = replace(config.scaling_policy, enable_predictive_scaling=predictive)

    # One function, ``minute`` minutes of a 1-second-call trace giving that concurrency.
    counts = np.zeros((1, minute + 2))
    counts[0, minute] = concurrency * 60.0
    trace = Trace(["f"], counts, np.full(counts.shape, 1000.0))
    pool = StandInPool(info(policy), concurrency, instances)
    pool.ran(trace, 0, minute)

    def forecaster(_info: FunctionInfo, lead_time_s: float) -> Forecast | None:
        assert lead_time_s == 60.0  # one replayed minute ahead
        assert forecast is not None
        return Forecast(forecast[0], forecast[1], config.confidence_threshold)

    live = Autoscaler(
        StandInService([pool]),  # type: ignore[arg-type]
        replay_autoscaler_config(),
        forecaster=forecaster if predictive else None,
    )
    live_decision = live.tick(now)["fn-1"]

    if forecast is None:
        replay: Any = Autoscaled(trace, config)
    else:  # the predictive policy: these forecasts of concurrency, and arrival forecasts
        replay = predictive_policy(trace, needed_instances(trace), config, OneForecast(*forecast))
    alive = np.array([instances])
    replay.after_minute(minute, np.array([0]), alive)
    replayed = replay.decisions[0]

    assert replayed == live_decision
    assert pool.autoscale_target == replayed.desired
    assert pool.reap_after_s == (60.0 if predictive else None)


def hand_made_trace() -> tuple[Trace, np.ndarray, np.ndarray]:
    """Four functions over 150 minutes, and forecasts of the last one's concurrency.

    * ``memo``: memoryless, one 1 s call after idle times of 1, 6, 2, 9, 1, 4, ... minutes
      (CV about 0.6, about 0.25 calls per idle minute: a keep-alive window of 4 minutes);
    * ``timer``: one 0.3 s call every 7 minutes (warmed at its tick once learnt);
    * ``bursty``: quiet, then 40-400 calls a minute of 1.5 s (scale-ups, a panic);
    * ``forecast``: steady 3-6 instances' worth, with a concurrency forecast that is
      confident (and above the demand) in some minutes and unsure in others.
    """
    minutes = 150
    counts = np.zeros((4, minutes))
    durations = np.zeros((4, minutes))
    gaps = [1, 6, 2, 9, 1, 4, 3, 8, 1, 5, 2, 7]
    m = 0
    for k in range(40):
        if m >= minutes:
            break
        counts[0, m] = 1
        m += gaps[k % len(gaps)] + 1
    counts[1, ::7] = 1
    rng = np.random.default_rng(15)
    counts[2, 60:100] = rng.integers(40, 400, 40)
    counts[2, 100:150:3] = 40
    counts[3] = rng.integers(120, 240, minutes)
    durations[0], durations[1], durations[2], durations[3] = 1000.0, 300.0, 1500.0, 1500.0
    trace = Trace(["memo", "timer", "bursty", "forecast"], counts, durations)
    values = np.zeros((4, minutes + 1))
    confidence = np.zeros((4, minutes + 1))
    values[3] = 2.0 + 8.0 * (np.arange(minutes + 1) % 20 < 5)
    confidence[3] = np.where(np.arange(minutes + 1) % 3 == 0, 0.95, 0.5)
    return trace, values, confidence


class Table:
    """Forecasts of concurrency given in advance (functions x minutes)."""

    def __init__(self, values: np.ndarray, confidence: np.ndarray) -> None:
        self.values, self.confidence = values, confidence

    def at(self, minute: int) -> tuple[np.ndarray, np.ndarray]:
        return self.values[:, minute], self.confidence[:, minute]


def test_the_replay_and_the_live_autoscaler_agree_minute_by_minute() -> None:
    trace, values, confidence = hand_made_trace()
    config = ReplayConfig(
        scaling_policy=ScalingPolicy(max_instances=40, target_concurrency=80), budget_ratio=0.0
    )
    needed = needed_instances(trace)
    functions, minutes = needed.shape
    replay = predictive_policy(trace, needed, config, Table(values, confidence))
    assert isinstance(replay, Autoscaled)

    policy = replace(config.scaling_policy, enable_predictive_scaling=True)
    pools = [
        StandInPool(info(policy, f"fn-{i}", name), 0.0, 0) for i, name in enumerate(trace.functions)
    ]
    row_of = {p.info.id: i for i, p in enumerate(pools)}
    ahead = {"minute": 0}

    def forecaster(function: FunctionInfo, lead_time_s: float) -> Forecast | None:
        i, m = row_of[function.id], ahead["minute"]
        return Forecast(float(values[i, m]), float(confidence[i, m]), config.confidence_threshold)

    live = Autoscaler(
        StandInService(pools),  # type: ignore[arg-type]
        replay_autoscaler_config(),
        forecaster=forecaster,
    )

    warm = np.zeros(functions, dtype=np.int64)
    compared = 0
    # minutes a function was kept warm (a decision of 1 or more) with no call in the
    # minute before nor in the minute decided for; and with a call only in the latter
    kept_idle: dict[str, int] = {name: 0 for name in trace.functions}
    warmed_ahead: dict[str, int] = {name: 0 for name in trace.functions}
    panics = predicted = 0
    for t in range(minutes):
        alive = np.maximum(warm, needed[:, t])
        warm = replay.after_minute(t, needed[:, t], alive)
        for i, pool in enumerate(pools):
            pool.concurrency = float(trace.invocations[i, t] * trace.duration_ms[i, t] / 60_000.0)
            pool.instances = int(alive[i])
            pool.ran(trace, i, t)
        ahead["minute"] = t + 1
        decided = live.tick((t + 1) * 60.0)  # the replay's decision time: the end of minute t
        for i, pool in enumerate(pools):
            theirs: ScalingDecision | None = replay.decisions.get(i)
            if theirs is None:  # the replay skips functions with nothing going on: 0 then
                assert decided[pool.info.id].desired == config.scaling_policy.min_instances
            else:
                assert decided[pool.info.id] == theirs, (trace.functions[i], t)
                compared += 1
            d = decided[pool.info.id]
            assert pool.autoscale_target == d.desired
            panics += d.panic
            predicted += d.predicted is not None and d.predicted > d.reactive
            if t + 1 < minutes and needed[i, t] == 0 and d.desired > 0:
                (warmed_ahead if needed[i, t + 1] else kept_idle)[trace.functions[i]] += 1
    assert compared > 300
    # Not a vacuous agreement: the memoryless function was kept warm through idle minutes
    # by its window, the timer warmed for its ticks (and only for them), and forecasts and
    # a panic decided some minutes.
    assert kept_idle["memo"] >= 10
    assert warmed_ahead["timer"] >= 15 and kept_idle["timer"] == 0
    assert panics > 0 and predicted > 0
    # The same windows on both sides: 4 idle minutes for memo (ceil(ln(1 / 0.4) / r), r
    # about 0.25 calls per idle minute), none for the timer (its idle times never vary).
    arrivals = replay.forecasts.sources[1]  # type: ignore[union-attr]
    windows = [live.keep_warm.keepalive_minutes(p.info.id) for p in pools]
    assert windows == arrivals.keepalive_minutes().tolist()
    assert windows[:2] == [4, 0]
