"""The ``predictive`` replay's keep-alive windows and idle budget, on hand-made traces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from constellation.predictive import PredictiveValidationError, ReplayConfig, Trace, simulate
from constellation.predictive._arrivals import ArrivalForecasts
from constellation.predictive._budget import IdleBudget
from constellation.predictive._replay import needed_instances
from constellation.predictive._replay_policies import make_policy


def trace_with_gaps(gaps: list[int], tail: int = 30) -> Trace:
    """One function called at minute 0 and then after each of ``gaps`` idle minutes."""
    minutes = [0]
    for gap in gaps:
        minutes.append(minutes[-1] + gap + 1)
    counts = [0.0] * (minutes[-1] + tail)
    for m in minutes:
        counts[m] = 1.0
    return Trace.from_counts({"f": counts})


def arrivals_after(trace: Trace, config: ReplayConfig) -> tuple[ArrivalForecasts, int]:
    arrivals = ArrivalForecasts(trace, needed_instances(trace), config)
    last = int(np.flatnonzero(trace.invocations[0])[-1])
    arrivals.at(last + 1)  # takes in every minute up to the last call
    return arrivals, last


def test_a_memoryless_function_gets_the_window_its_rate_and_cold_share_give() -> None:
    # Idle times 1 and 9, alternating: mean 5, standard deviation 4 (CV 0.8 >= 0.5).
    # Re-arrival rate after an idle minute: 6 calls over 30 idle minutes = 0.2 a minute.
    # Window: ceil(ln(1 / 0.4) / 0.2) = ceil(4.58) = 5 idle minutes.
    trace = trace_with_gaps([1, 9, 1, 9, 1, 9])
    config = ReplayConfig(keepalive_cold_share=0.4, keepalive_min_rate=0.02)
    arrivals, last = arrivals_after(trace, config)
    assert arrivals.keepalive_minutes().tolist() == [math.ceil(math.log(1 / 0.4) / 0.2)] == [5]
    # The forecast is confident (>= the threshold) for idle minutes 0-4 after the last
    # call and no longer at the 5th (its hazard there: no call seen after 5 idle minutes).
    for gap in range(5):
        value, confidence, threshold = arrivals.at(last + 1 + gap)
        assert value[0] == 1.0 and confidence[0] >= threshold[0]
    _, confidence, threshold = arrivals.at(last + 1 + 5)
    assert confidence[0] < threshold[0]


def test_no_window_for_a_timer_a_rare_function_or_too_few_idle_times() -> None:
    config = ReplayConfig(keepalive_cold_share=0.4, keepalive_min_rate=0.02)
    timer, _ = arrivals_after(trace_with_gaps([9] * 6), config)  # CV 0
    rare, _ = arrivals_after(trace_with_gaps([40, 80, 40, 80]), config)  # rate 1/60 < 0.02
    young, _ = arrivals_after(trace_with_gaps([1, 9]), config)  # 2 idle times < 3
    off, _ = arrivals_after(trace_with_gaps([1, 9] * 3), config.replace(keepalive_cold_share=1.0))
    for arrivals in (timer, rare, young, off):
        assert arrivals.keepalive_minutes().tolist() == [0]


def test_the_window_turns_cold_starts_warm_in_a_replay() -> None:
    # The same memoryless function replayed with windows off and on: with them, calls
    # within 5 idle minutes of the last one (the 1-minute gaps, from the 4th idle time
    # on) find the instance warm.
    trace = trace_with_gaps([1, 9] * 10)
    off = ReplayConfig(keepalive_cold_share=1.0, budget_ratio=0.0)
    on = ReplayConfig(keepalive_cold_share=0.4, keepalive_min_rate=0.02, budget_ratio=0.0)
    r_off = simulate(trace, "predictive", off).policies["predictive"]
    r_on = simulate(trace, "predictive", on).policies["predictive"]
    assert r_on.cold_starts < r_off.cold_starts
    assert r_on.idle_instance_seconds > r_off.idle_instance_seconds


def step(policy: IdleBudget, trace: Trace) -> None:
    needed = needed_instances(trace)
    warm = np.zeros(needed.shape[0], dtype=np.int64)
    for t in range(needed.shape[1]):
        alive = np.maximum(warm, needed[:, t])
        warm = policy.after_minute(t, needed[:, t], alive)


def test_the_idle_budget_raises_the_rate_over_budget_and_lowers_it_under() -> None:
    # Two functions: "busy" called every minute (no idle time for anyone), "memo" a
    # memoryless one whose window costs idle minutes that reactive (which keeps an
    # instance 5 minutes) also spends, but not all of them. Budget steps every 20 minutes.
    trace = trace_with_gaps([1, 9] * 20)
    base = ReplayConfig(budget_step_minutes=20, budget_factor=2.0, keepalive_min_rate=0.02)
    needed = needed_instances(trace)
    # Nothing may be spent (ratio ~0): each step that has spent idle time doubles the
    # lowest rate given a window, up to 1 call a minute.
    stingy = make_policy("predictive", trace, needed, base.replace(budget_ratio=1e-9))
    assert isinstance(stingy, IdleBudget)
    step(stingy, trace)
    assert stingy.history[-1] == 1.0
    assert all(b >= a for a, b in zip(stingy.history, stingy.history[1:], strict=False))
    # A budget never reached: the rate stays at its floor, keepalive_min_rate.
    lavish = make_policy("predictive", trace, needed, base.replace(budget_ratio=1e6))
    assert isinstance(lavish, IdleBudget)
    step(lavish, trace)
    assert lavish.history == [0.02] * (trace.minutes // 20)
    assert lavish.spent > 0 and lavish.shadow_spent > 0


def test_bad_keepalive_and_budget_settings_name_the_field() -> None:
    for name, value in (
        ("keepalive_cold_share", 0.0),
        ("keepalive_min_rate", -1.0),
        ("keepalive_min_gaps", 0),
        ("budget_ratio", -0.5),
        ("budget_factor", 0.5),
        ("budget_step_minutes", 0),
    ):
        with pytest.raises(PredictiveValidationError, match=name):
            ReplayConfig(**{name: value})
