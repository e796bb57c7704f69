"""The trace replayer: each policy on hand-made traces whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from constellation.predictive import (
    REPLAY_POLICIES,
    PredictiveValidationError,
    ReplayConfig,
    Trace,
    simulate,
)


def calls_at(minutes: list[int], length: int, count: float = 1.0) -> list[float]:
    counts = [0.0] * length
    for m in minutes:
        counts[m] = count
    return counts


class FixedForecast:
    """(concurrency, confidence) for one function in given minutes, nothing elsewhere."""

    def __init__(self, by_minute: dict[int, tuple[float, float]]) -> None:
        self.by_minute = by_minute

    def at(self, minute: int) -> tuple[np.ndarray, np.ndarray]:
        value, confidence = self.by_minute.get(minute, (0.0, 0.0))
        return np.array([value]), np.array([confidence])


def test_fixed_keepalive_keeps_an_instance_ten_minutes_after_its_last_use() -> None:
    trace = Trace.from_counts({"f": calls_at([0, 5, 20], 21)})
    r = simulate(trace, "fixed-keepalive").policies["fixed-keepalive"]
    # minute 0 cold; 5 within 10 minutes of 0: warm; 20 is 15 minutes after 5: cold
    assert r.cold_starts == 2 and r.invocations == 3
    assert r.cold_start_pct_p50 == pytest.approx(200 / 3)
    assert r.instance_seconds == 17 * 60  # minutes 0-15 and 20
    assert r.idle_instance_seconds == 17 * 60 - 3  # three 1-second calls ran


def test_reactive_is_the_autoscaler_with_the_pool_idle_timeout() -> None:
    trace = Trace.from_counts({"f": calls_at([0, 5, 20], 21)})
    r = simulate(trace, "reactive").policies["reactive"]
    # idle_timeout_s 300: kept 5 minutes after each use (minutes 0-10 and 20)
    assert r.cold_starts == 2 and r.instance_seconds == 12 * 60


def test_reactive_counts_one_cold_start_per_instance_the_step_needs() -> None:
    # 180 calls of 1 s a minute need 3 instances; from 0 all three start cold, once.
    trace = Trace.from_counts({"f": [0.0] * 5 + [180.0] * 10})
    r = simulate(trace, "reactive").policies["reactive"]
    assert r.cold_starts == 3
    assert r.instance_seconds == 30 * 60 and r.idle_instance_seconds == 0


def test_hybrid_learns_a_timer_and_prewarms_just_before_it() -> None:
    trace = Trace.from_counts({"timer": calls_at(list(range(0, 1200, 30)), 1200)})
    r = simulate(trace, "hybrid-histogram").policies["hybrid-histogram"]
    fixed = simulate(trace, "fixed-keepalive").policies["fixed-keepalive"]
    assert fixed.cold_starts == 40  # every call 29 idle minutes after the last: all cold
    # Only the first call is cold: the 4-hour keep-alive covers calls 1-10 while the
    # histogram fills; from call 11 on an instance is pre-warmed 26 idle minutes after
    # each call (the 5th percentile, 29, less 10%) and kept to 32 (the 99th plus 10%).
    assert r.cold_starts == 1
    assert r.instance_seconds == (301 + 29 * 4 + 3) * 60


def test_hybrid_forecasts_idle_times_beyond_its_range() -> None:
    trace = Trace.from_counts({"rare": calls_at(list(range(0, 1800, 300)), 1800)})
    r = simulate(trace, "hybrid-histogram").policies["hybrid-histogram"]
    # Call 0 has no history; call 1 comes after 299 idle minutes, beyond the 4-hour
    # keep-alive; from call 2 on the forecast idle time (299) pre-warms it.
    assert r.cold_starts == 2


def test_predictive_scales_up_before_a_confident_forecast_only() -> None:
    counts = [0.0] * 60
    counts[50] = 180.0  # 3 instances' worth of 1-second calls
    trace = Trace.from_counts({"f": counts})
    sure = FixedForecast({50: (3.0, 0.9)})
    r = simulate(trace, ["reactive", "predictive"], forecasts=sure).policies
    assert r["reactive"].cold_starts == 3
    assert r["predictive"].cold_starts == 0
    unsure = FixedForecast({50: (3.0, 0.5)})  # below the 0.8 threshold: ignored
    assert simulate(trace, "predictive", forecasts=unsure).policies["predictive"].cold_starts == 3


def test_predictive_with_the_platform_forecaster_learns_a_daily_burst() -> None:
    day = [0.0] * 1440
    day[600:660] = [600.0] * 60  # an hour of 10 instances' worth of calls each day
    trace = Trace.from_counts({"daily": day * 4})
    r = simulate(trace, ["reactive", "predictive"]).policies
    assert r["reactive"].cold_starts == 40  # 10 cold instances each day
    assert r["predictive"].cold_starts < r["reactive"].cold_starts


def test_all_policies_report_the_same_invocations() -> None:
    rng = np.random.default_rng(3)
    trace = Trace.from_counts({f"f{i}": rng.poisson(0.3, 600).astype(float) for i in range(5)})
    report = simulate(trace, "all")
    assert list(report.policies) == list(REPLAY_POLICIES)
    assert {r.invocations for r in report.policies.values()} == {int(trace.invocations.sum())}
    as_json = report.as_dict()
    for r in as_json["policies"].values():
        for key in (
            "cold_start_pct_p50",
            "cold_start_pct_p75",
            "cold_starts",
            "idle_instance_seconds",
            "instance_seconds",
            "invocations",
        ):
            assert key in r


def test_bad_policy_and_settings_name_the_field() -> None:
    trace = Trace.from_counts({"f": [1.0]})
    with pytest.raises(PredictiveValidationError, match="policy"):
        simulate(trace, "lambda")
    with pytest.raises(PredictiveValidationError, match="keepalive_minutes"):
        ReplayConfig(keepalive_minutes=0)
    with pytest.raises(PredictiveValidationError, match="head_percentile"):
        ReplayConfig(head_percentile=99.5)
    with pytest.raises(PredictiveValidationError, match="forecast_model"):
        ReplayConfig(forecast_model="prophet")


def test_predictive_learns_a_timer_from_its_arrival_forecast() -> None:
    trace = Trace.from_counts({"timer": calls_at(list(range(0, 1200, 30)), 1200)})
    r = simulate(trace, "predictive").policies["predictive"]
    # Calls 0 and 1 are cold (no idle time seen yet). With n idle times of 29 minutes
    # seen, the chance of a call after g idle minutes (g < 29) is 2 * 1/(30 - g) / (n + 2)
    # (no call seen there, smoothed towards the hazard pooled over gaps >= g, weight 2),
    # at most 1/3, under the 0.5 threshold; at g = 29 it is 1: the instance is started
    # for the call's own minute and kept one more (the 60 s idle timeout): 80 minutes in
    # all, no idle minute before a call. A timer's idle times do not vary (CV 0): no
    # keep-alive window.
    assert r.cold_starts == 2
    assert r.instance_seconds == 80 * 60
