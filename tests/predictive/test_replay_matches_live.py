"""The replay and the live autoscaler make the same decision for the same inputs.

The live :class:`Autoscaler` ticks over a stand-in pool (its demand, counts and policy
given here; no processes); the replay's ``reactive``/``predictive`` policy steps one
minute with the same concurrency, instance count, forecast and clock. Both go through
``constellation.serverless.decide``; this test checks that neither adds its own logic
between its inputs and that call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from constellation.predictive import ReplayConfig, Trace
from constellation.predictive._replay_policies import Autoscaled, replay_autoscaler_config
from constellation.serverless import Forecast, FunctionInfo, ScalingPolicy
from constellation.serverless._pool import PoolCounts
from constellation.serverless._scaler import Autoscaler
from constellation.telemetry import Telemetry


@dataclass
class StandInPool:
    info: FunctionInfo
    concurrency: float
    instances: int
    autoscale_target: int = 0
    filled: list[int] = field(default_factory=list)

    def demand(self, window_s: float, now: float) -> float:
        return self.concurrency  # the same mean over every window: a per-minute trace's view

    def counts(self) -> PoolCounts:
        return PoolCounts(idle=self.instances, busy=0, starting=0)

    def fill(self, target: int) -> None:
        self.filled.append(target)


class StandInStore:
    def execute(self, sql: str, params: Any = ()) -> None:
        pass


@dataclass
class StandInService:
    pool: StandInPool
    telemetry: Telemetry = field(default_factory=Telemetry)
    _store: StandInStore = field(default_factory=StandInStore)

    def pools(self) -> list[StandInPool]:
        return [self.pool]

    def clock(self) -> float:
        raise AssertionError("the test passes the time")


def info(policy: ScalingPolicy) -> FunctionInfo:
    return FunctionInfo(
        "fn-1", "f", "python", "h", "src", "hash", "m:h", 128, 30, 100, {},
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
    config = ReplayConfig(scaling_policy=ScalingPolicy(max_instances=40, target_concurrency=80))
    predictive = forecast is not None
    policy = replace(config.scaling_policy, enable_predictive_scaling=predictive)

    pool = StandInPool(info(policy), concurrency, instances)

    def forecaster(_info: FunctionInfo, lead_time_s: float) -> Forecast | None:
        assert lead_time_s == 60.0  # one replayed minute ahead
        assert forecast is not None
        return Forecast(forecast[0], forecast[1], config.confidence_threshold)

    live = Autoscaler(
        StandInService(pool),  # type: ignore[arg-type]
        replay_autoscaler_config(),
        forecaster=forecaster if predictive else None,
    )
    live_decision = live.tick(now)["fn-1"]

    # One function, ``minute`` minutes of a 1-second-call trace giving that concurrency.
    counts = np.zeros((1, minute + 2))
    counts[0, minute] = concurrency * 60.0
    trace = Trace(["f"], counts, np.full(counts.shape, 1000.0))
    replay = Autoscaled(trace, config, OneForecast(*forecast) if forecast else None)
    alive = np.array([instances])
    replay.after_minute(minute, np.array([0]), alive)
    replayed = replay.decisions[0]

    assert replayed == live_decision
    assert pool.autoscale_target == replayed.desired


class NoMemory(dict[tuple[object, ...], Any]):
    """A cache that never keeps anything: every decision is made afresh."""

    def __setitem__(self, key: tuple[object, ...], value: Any) -> None:
        pass


def test_reusing_decisions_for_equal_inputs_changes_nothing() -> None:
    rng = np.random.default_rng(7)
    rates = np.repeat(rng.uniform(0.0, 300.0, (6, 1)), 240, axis=1)
    counts = rng.poisson(rates * (rng.random((6, 240)) < 0.4)).astype(float)
    trace = Trace([f"f{i}" for i in range(6)], counts, np.full(counts.shape, 700.0))
    config = ReplayConfig(scaling_policy=ScalingPolicy(target_concurrency=80))
    needed = np.maximum(np.ceil(counts * 700.0 / 60_000.0 - 1e-9), counts > 0).astype(int)

    def run(fresh: bool) -> list[list[int]]:
        policy = Autoscaled(trace, config)
        if fresh:
            policy._cache = NoMemory()
        warm = np.zeros(6, dtype=np.int64)
        out = []
        for t in range(240):
            alive = np.maximum(warm, needed[:, t])
            warm = policy.after_minute(t, needed[:, t], alive)
            out.append(warm.tolist())
        return out

    assert run(fresh=False) == run(fresh=True)
