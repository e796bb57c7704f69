"""The autoscaling policy (pure), the concurrency meter, and the loop on real instances."""

from __future__ import annotations

import threading

import pytest

from constellation.serverless import ScalingPolicy, ServerlessService
from constellation.serverless._autoscaler import Forecast, ScalingContext, decide
from constellation.serverless._concurrency import ConcurrencyMeter

from .._support import wait_until
from .conftest import HANDLERS

POLICY = ScalingPolicy(min_instances=0, max_instances=50, target_concurrency=80)


def ctx(current: int, stable: float, panic: float | None = None, **kw: object) -> ScalingContext:
    return ScalingContext(
        now=1000.0,
        current_instances=current,
        stable_concurrency=stable,
        panic_concurrency=stable if panic is None else panic,
        policy=kw.pop("policy", POLICY),
        **kw,
    )  # type: ignore[arg-type]


def test_target_concurrency_is_utilisation_in_percent() -> None:
    assert decide(ctx(4, 4.0)).desired == 5  # 4 in flight at 80% per instance: ceil(4 / 0.8)
    assert decide(ctx(5, 4.0)).desired == 5
    full = ScalingPolicy(max_instances=50, target_concurrency=100)
    assert decide(ctx(4, 4.0, policy=full)).desired == 4


def test_scale_down_is_at_most_halving_per_tick_and_respects_min() -> None:
    assert decide(ctx(10, 0.0)).desired == 5
    assert decide(ctx(1, 0.0)).desired == 0  # scale to zero
    kept = ScalingPolicy(min_instances=2, max_instances=50)
    assert decide(ctx(2, 0.0, policy=kept)).desired == 2


def test_max_instances_caps_the_count() -> None:
    d = decide(ctx(10, 400.0))
    assert d.desired == 50 and "max_instances 50" in d.reason


def test_panic_when_demand_doubles_and_no_scale_down_while_panicking() -> None:
    d = decide(ctx(2, stable=1.0, panic=8.0))
    assert d.panic and d.desired == 10 and d.panicking_since == 1000.0
    calm = ScalingContext(
        now=1030.0,
        current_instances=10,
        stable_concurrency=1.0,
        panic_concurrency=1.0,
        policy=POLICY,
        panicking_since=1000.0,
    )
    assert decide(calm).panic and decide(calm).desired == 10  # 30 s later: still panicking
    over = ScalingContext(
        now=1061.0,
        current_instances=10,
        stable_concurrency=1.0,
        panic_concurrency=1.0,
        policy=POLICY,
        panicking_since=1000.0,
    )
    after = decide(over)
    assert not after.panic and after.desired == 5


def test_predictive_scaling_uses_a_confident_forecast_only() -> None:
    predictive = ScalingPolicy(
        max_instances=50, target_concurrency=80, enable_predictive_scaling=True
    )
    sure = decide(ctx(2, 1.0, policy=predictive, forecast=Forecast(8.0, 0.9, 0.8)))
    assert sure.desired == 10 and sure.predicted == 10 and sure.reason.startswith("predictive")
    unsure = decide(ctx(2, 1.0, policy=predictive, forecast=Forecast(8.0, 0.5, 0.8)))
    assert unsure.desired == 2 and unsure.predicted is None
    off = decide(ctx(2, 1.0, forecast=Forecast(8.0, 0.9, 0.8)))
    assert off.desired == 2


def test_meter_integrates_in_flight_over_time() -> None:
    meter = ConcurrencyMeter(now=100.0)
    meter.change(+2, 100.0)
    meter.change(-1, 103.0)  # 2 in flight for 3 s, then 1
    assert meter.average(6, 106.0) == pytest.approx((2 * 3 + 1 * 3) / 6)
    assert meter.average(60, 106.0) == pytest.approx(9 / 6)  # only 6 s observed so far
    assert meter.average(60, 130.0) == pytest.approx((2 * 3 + 1 * 27) / 30)
    assert meter.average(60, 166.0) == pytest.approx(1.0)  # [106, 166]: 1 in flight throughout
    assert meter.in_flight == 1
    meter.change(-1, 10_000.0)  # a long quiet gap is skipped, not looped over
    assert meter.average(6, 10_006.0) == pytest.approx(0.0)


def test_step_load_brings_instances_to_target(sls: ServerlessService) -> None:
    f = sls.create_function(
        "stepped",
        "python",
        "sleep",
        HANDLERS,
        concurrency=20,
        scaling_policy={"target_concurrency": 100, "max_instances": 20},
    )
    # This test ticks by hand: the loop's own real-time ticks would log decisions of their
    # own between the hand tick and the check of the log.
    sls.autoscaler.close()
    sls.deploy_function(f.id)
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            # Long calls: the 8 clients are in flight nearly all the time, however slowly
            # the machine runs the client's own code between them.
            sls.invoke_sync(f.id, {"seconds": 0.25})

    (pool,) = [p for p in sls.pools() if p.info.id == f.id]
    config = sls.autoscaler.config

    def load_seen() -> float:
        """The demand the next tick will see, once both windows show more than 5 in flight
        (6 or more instances at a target of 100%); 0.0 before."""
        now = sls.clock()
        seen = min(
            pool.demand(config.stable_window_s, now), pool.demand(config.panic_window_s, now)
        )
        return seen if seen > 5.5 else 0.0

    clients = [threading.Thread(target=client) for _ in range(8)]
    for c in clients:
        c.start()
    try:
        # The meter has seen the step (instead of sleeping a fixed time and hoping).
        wait_until(load_seen, what="the meter seeing the 8 clients' load")
        decisions = sls.autoscaler.tick()
        assert decisions[f.id].desired >= 6
        wait_until(
            lambda: sls.get_function_metrics(f.id).instances >= decisions[f.id].desired,
            what=f"{decisions[f.id].desired} instances",
        )
        assert sls.get_function_metrics(f.id).instances >= decisions[f.id].desired
    finally:
        stop.set()
        for c in clients:
            c.join()
    log = sls.get_scaling_decisions(f.id)
    assert log and log[-1]["desired"] == decisions[f.id].desired and log[-1]["reason"]


def test_a_failing_forecast_skips_its_function_and_not_the_others(
    sls: ServerlessService, caplog: pytest.LogCaptureFixture
) -> None:
    broken = sls.create_function(
        "broken-forecast", "python", "echo", HANDLERS,
        scaling_policy={"enable_predictive_scaling": True},
    )  # fmt: skip
    plain = sls.create_function("plain", "python", "echo", HANDLERS)
    for f in (broken, plain):
        sls.invoke_sync(f.id, {})

    def forecaster(info: object, lead_time_s: float) -> Forecast | None:
        raise RuntimeError("the model blew up")

    sls.autoscaler.close()  # only the hand tick below
    sls.autoscaler.forecaster = forecaster
    decisions = sls.autoscaler.tick()
    assert set(decisions) == {plain.id}
    assert "autoscaling function 'broken-forecast' failed" in caplog.text
    assert "the model blew up" in caplog.text
