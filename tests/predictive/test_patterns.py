"""Period detection: calendar periods from timestamps, custom ones, and no false alarms."""

import numpy as np

from constellation.predictive import detect_periods
from constellation.predictive._patterns import label_for

RNG = np.random.default_rng(5)


def test_daily_and_weekly_cycles_of_hourly_data_are_found() -> None:
    n = 24 * 7 * 6
    t = np.arange(n)
    y = 100 + 10 * np.sin(2 * np.pi * t / 24) + 6 * np.sin(2 * np.pi * t / 168)
    y += RNG.normal(0, 1, n)
    found = detect_periods(y, step_seconds=3600)
    assert [(p.samples, p.label) for p in found] == [(24, "daily"), (168, "weekly")]
    assert all(p.p_value < 0.01 and 0 < p.strength <= 1 for p in found)
    assert found[0].strength > 0.9


def test_hourly_pattern_in_minute_data() -> None:
    n = 60 * 24
    y = np.sin(2 * np.pi * np.arange(n) / 60) * 3 + RNG.normal(0, 1, n)
    found = detect_periods(y, step_seconds=60)
    assert found[0].samples == 60 and found[0].label == "hourly"


def test_custom_period_in_seconds() -> None:
    n = 2000
    y = 5 * np.sin(2 * np.pi * np.arange(n) / 45) + RNG.normal(0, 1, n)
    found = detect_periods(y, step_seconds=10, custom=[450.0])
    assert [p.samples for p in found] == [45]
    assert found[0].label == "custom" and found[0].seconds == 450


def test_noise_random_walk_and_ar1_have_no_period() -> None:
    assert detect_periods(RNG.normal(size=3000), 3600) == []
    assert detect_periods(np.cumsum(RNG.normal(size=3000)), 3600) == []
    ar = np.zeros(3000)
    e = RNG.normal(size=3000)
    for i in range(1, 3000):
        ar[i] = 0.9 * ar[i - 1] + e[i]
    assert detect_periods(ar, 60) == []


def test_weekly_needs_two_weeks_of_data() -> None:
    n = 24 * 10  # ten days
    y = np.sin(2 * np.pi * np.arange(n) / 24) + RNG.normal(0, 0.1, n)
    assert [p.samples for p in detect_periods(y, 3600)] == [24]


def test_constant_and_tiny_series() -> None:
    assert detect_periods(np.ones(500), 60) == []
    assert detect_periods(np.arange(5.0), 60) == []


def test_labels() -> None:
    assert label_for(3600) == "hourly"
    assert label_for(86400) == "daily"
    assert label_for(604800) == "weekly"
    assert label_for(1234) == "custom"
