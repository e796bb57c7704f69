"""Predictive scaling's arrival forecasts, live: keep-alive windows and warm-ups at a
timer's tick, through the real autoscaler and a real pool (fake instances, fake clock).

The decisions are the trace replayer's (``tests/predictive/test_replay_matches_live.py``
feeds both the same minutes); here the pool acts on them: it starts the instance the
decision asks for, keeps it while the decision does, and reaps it 60 s after it idles
once the decision no longer does.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from constellation.serverless import FunctionInfo, ScalingDecision, ScalingPolicy
from constellation.serverless._concurrency import ConcurrencyMeter
from constellation.serverless._pool import FunctionPool
from constellation.serverless._scaler import Autoscaler
from constellation.telemetry import Telemetry

from .._support import FakeClock, wait_until
from .conftest import HANDLERS, make_platform

pytestmark = pytest.mark.local_only  # the instances are stand-ins but in the last test

_ids = itertools.count()


class FakeInstance:
    def __init__(self, info: FunctionInfo, generation: int, now: float) -> None:
        self.id = f"i-{next(_ids)}"
        self.node = "local"
        self.function_id = info.id
        self.generation = generation
        self.pid = 0
        self.created_at = self.idle_since = now
        self.init_ms = 0.0
        self.invocations = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_seconds(self, now: float) -> float:
        return max(0.0, now - self.idle_since)

    def close(self) -> None:
        self._closed = True

    kill = close


class NoStore:
    def execute(self, sql: str, params: Any = ()) -> None:
        pass


@dataclass
class OnePoolService:
    """What the autoscaler reads of the functions service: one real pool."""

    pool: FunctionPool
    clock: FakeClock
    telemetry: Telemetry = field(default_factory=Telemetry)
    _store: NoStore = field(default_factory=NoStore)

    def pools(self) -> list[FunctionPool]:
        return [self.pool]


def make(clock: FakeClock, predictive: bool = True) -> tuple[Autoscaler, FunctionPool, list[Any]]:
    policy = ScalingPolicy(enable_predictive_scaling=predictive)
    info = FunctionInfo(
        "fn-1", "sparse", "python", "h", "src", "hash", "m:h", 128, 30, 100, {},
        policy, False, 0, 1, "deployed", 0.0, 0.0,
    )  # fmt: skip
    launched: list[FakeInstance] = []

    def launch(function: FunctionInfo, generation: int) -> FakeInstance:
        launched.append(FakeInstance(function, generation, clock()))
        return launched[-1]

    pool = FunctionPool(info, launch, clock)
    scaler = Autoscaler(OnePoolService(pool, clock))  # type: ignore[arg-type]
    return scaler, pool, launched


def call(pool: FunctionPool, clock: FakeClock) -> bool:
    """One call (it takes no time on the fake clock); whether it started cold."""
    instance, cold = pool.acquire(time.monotonic() + 30.0)
    pool.release(instance, clock())
    return cold


def tick(scaler: Autoscaler, pool: FunctionPool, clock: FakeClock) -> ScalingDecision:
    """The autoscaler's tick, the instances it asks for started, then a reap."""
    decision = scaler.tick(clock())[pool.info.id]
    wait_until(
        lambda: pool.counts().total >= decision.desired and not pool.counts().starting,
        what=f"{decision.desired} instances",
    )
    pool.reap(clock())
    return decision


def test_a_memoryless_function_keeps_one_instance_for_its_window_then_it_is_reaped() -> None:
    # Calls after idle times of 1, 9, 1, 9, 1, 9 minutes (CV 0.8; 6 calls over 30 idle
    # minutes: 0.2 a minute): a window of ceil(ln(1 / 0.4) / 0.2) = 5 idle minutes.
    clock = FakeClock(1_800_000_000.0)  # a whole minute on the clock
    start = clock.now
    scaler, pool, launched = make(clock)
    calls = [0, 2, 12, 14, 24, 26, 36]
    seen: dict[int, tuple[ScalingDecision, int]] = {}
    for minute in range(0, 44):
        clock.now = start + minute * 60 - 5  # a tick in the autoscaler's minute `minute`
        seen[minute] = (tick(scaler, pool, clock), pool.counts().total)
        if minute in calls:
            clock.now = start + minute * 60 + 5
            call(pool, clock)
    assert scaler.keep_warm.keepalive_minutes("fn-1") == 5
    for minute in range(37, 42):  # the 5 idle minutes after the last call: one kept warm
        decision, instances = seen[minute]
        assert decision.desired == 1 and decision.predicted == 1, minute
        assert instances == 1, minute
    # At minute 41 it had been idle 290 s, far past the 60 s a predictive function's idle
    # instance gets: only the decision kept it. At 42 the window is over: reaped.
    assert pool.reap_after_s == 60.0
    assert seen[42] == (seen[42][0], 0) and seen[42][0].desired == 0
    assert [i.closed for i in launched] == [True] * len(launched)
    # Windows come once three idle times are known (after the call at minute 14): the
    # call at 26 found the instance kept for it, the one at 14 did not. After 26 the
    # window was 4 minutes; the 9-minute idle time outlasts it, but so regular a
    # function is learnt too (both 9-minute idle times so far ended in a call): minute
    # 36 is warmed for, as a timer's tick is.
    assert [seen[m][0].desired for m in (14, 26)] == [0, 1]
    assert [seen[m][0].desired for m in range(27, 37)] == [1] * 4 + [0] * 5 + [1]


def test_a_timer_is_warmed_at_its_tick_and_not_between() -> None:
    clock = FakeClock(1_800_000_000.0)
    start = clock.now
    scaler, pool, launched = make(clock)
    colds = []
    desired = {}
    for minute in range(0, 71):
        clock.now = start + minute * 60 - 8  # 8 s before the clock's minute begins
        desired[minute] = tick(scaler, pool, clock).desired
        if minute % 10 == 0:
            clock.now = start + minute * 60  # the timer fires at :00
            colds.append(call(pool, clock))
    # The first two calls start cold (nothing learnt yet); from the third on, the
    # instance was started 8 s before the tick, and the call found it warm.
    assert colds == [True, True] + [False] * 6
    for minute in range(21, 71):
        assert desired[minute] == (1 if minute % 10 == 0 else 0), minute
    # Between ticks the instance goes 60 s after its call: one start per tick, not one
    # instance kept all along.
    assert len(launched) == 8 and sum(not i.closed for i in launched) == 1


def test_without_predictive_scaling_no_window_and_the_policys_idle_timeout() -> None:
    clock = FakeClock(1_800_000_000.0)
    start = clock.now
    scaler, pool, _ = make(clock, predictive=False)
    for minute in (0, 2, 12, 14, 24, 26, 36):
        clock.now = start + minute * 60 + 5
        call(pool, clock)
    clock.now = start + 37 * 60 - 5
    assert tick(scaler, pool, clock).desired == 0
    assert pool.reap_after_s is None and pool.counts().total == 1  # idle 50 s < 300 s
    clock.now = start + 41 * 60 + 6  # idle 301 s
    pool.reap(clock())
    assert pool.counts().total == 0 and scaler.keep_warm.keepalive_minutes("fn-1") == 0


def test_the_meter_keeps_a_sparse_functions_seconds_across_a_long_quiet_gap() -> None:
    meter = ConcurrencyMeter(100.0)
    meter.change(+1, 100.5)
    meter.change(-1, 101.25)
    meter.change(+1, 5_000.0)
    meter.change(-1, 5_000.0)  # a call taking no time still counts as started
    assert meter.activity(-1, 10_000.0) == [(100, 0.5, 1), (101, 0.25, 0), (5000, 0.0, 1)]
    assert meter.activity(100, 10_000.0) == [(101, 0.25, 0), (5000, 0.0, 1)]
    assert meter.average(6, 10_000.0) == 0.0


def test_a_platforms_predictive_function_keeps_its_window_through_real_calls(
    tmp_path: Path, clock: FakeClock
) -> None:
    # The wiring, end to end: real calls through the invoker feed the autoscaler's model
    # (through the pool's meter), and the platform's reaper honours the decision.
    with make_platform(tmp_path / "home", clock) as platform:
        sls = platform.serverless
        f = sls.create_function(
            "memo", "python", "noop", HANDLERS, scaling_policy={"enable_predictive_scaling": True}
        )
        sls.deploy_function(f.id)  # its pool, which the autoscaler looks at
        sls.autoscaler.close()  # only the hand ticks below
        start = clock.now = 1_800_000_000.0
        targets = {}
        for minute in range(0, 44):
            clock.now = start + minute * 60 - 5
            decision = sls.autoscaler.tick()[f.id]
            wait_until(
                lambda d=decision: len(sls.list_instances("memo")) >= d.desired,
                what=f"{decision.desired} instances",
            )
            sls.reap_idle()
            targets[minute] = (decision.desired, len(sls.list_instances("memo")))
            if minute in (0, 2, 12, 14, 24, 26, 36):
                clock.now = start + minute * 60 + 5
                assert sls.invoke_sync(f.id).ok
        assert sls.autoscaler.keep_warm.keepalive_minutes(f.id) == 5
        assert [targets[m] for m in range(37, 43)] == [(1, 1)] * 5 + [(0, 0)]
