"""Known answers for the multi-seasonal level model and the default on long cycles."""

import numpy as np
import pytest

from constellation.predictive import Forecaster, MultiSeasonal

DAY, WEEK = 288, 2016


def daily_weekly(n: int, offset: int = 0) -> np.ndarray:
    t = np.arange(n) + offset
    return 20 + 5 * np.sin(2 * np.pi * t / DAY) + 2 * np.sin(2 * np.pi * t / WEEK)


def test_pure_daily_weekly_sine_is_forecast_within_tolerance() -> None:
    y = daily_weekly(3 * WEEK)
    m = MultiSeasonal().fit(y, [DAY, WEEK])
    assert m.used_periods == (DAY, WEEK)
    expected = daily_weekly(24, offset=y.size)
    np.testing.assert_allclose(m.forecast(24), expected, atol=0.15)


def test_noisy_daily_cycle_profile_is_recovered() -> None:
    rng = np.random.default_rng(1)
    y = daily_weekly(2 * WEEK) + rng.normal(0, 0.5, 2 * WEEK)
    m = MultiSeasonal().fit(y, [DAY, WEEK])
    expected = daily_weekly(12, offset=y.size)
    assert np.mean(np.abs(m.forecast(12) - expected)) < 0.5


def test_level_shift_is_followed_within_a_few_steps() -> None:
    rng = np.random.default_rng(2)
    n = 5 * DAY
    y = daily_weekly(n) + rng.normal(0, 1.0, n)
    shift_at = n - 8
    y[shift_at:] += 10.0
    m = MultiSeasonal().fit(y, [DAY])
    expected = daily_weekly(12, offset=n) + 10.0
    # eight steps after a shift of 10 noise sd the forecast sits at the new level
    assert m.shift_reset
    assert np.mean(np.abs(m.forecast(12) - expected)) < 1.5


def test_no_shift_reset_on_plain_noise() -> None:
    rng = np.random.default_rng(3)
    y = daily_weekly(4 * DAY) + rng.normal(0, 1.0, 4 * DAY)
    assert not MultiSeasonal().fit(y, [DAY]).shift_reset


def test_without_periods_it_is_a_smoothed_level() -> None:
    rng = np.random.default_rng(4)
    y = 7.0 + rng.normal(0, 0.2, 500)
    m = MultiSeasonal().fit(y, [])
    assert m.used_periods == ()
    np.testing.assert_allclose(m.forecast(5), 7.0, atol=0.2)


def test_periods_without_two_cycles_are_dropped() -> None:
    y = daily_weekly(3 * DAY)
    assert MultiSeasonal().fit(y, [DAY, WEEK]).used_periods == (DAY,)


def test_error_scale_grows_with_the_horizon() -> None:
    rng = np.random.default_rng(5)
    y = daily_weekly(4 * DAY) + np.cumsum(rng.normal(0, 0.3, 4 * DAY))
    s = MultiSeasonal().fit(y, [DAY]).sigma(100)
    assert s.size == 100 and np.all(s > 0)
    assert s[-1] > s[0]


@pytest.mark.parametrize("seed", [10, 11])
def test_default_intervals_cover_about_95_percent_on_gaussian_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, h = 6 * DAY, 12
    y = daily_weekly(n + 40 * h) + rng.normal(0, 1.0, n + 40 * h)
    inside = []
    for k in range(40):
        cut = n + k * h
        fc = Forecaster("ensemble", horizon=h, origins=4).fit(y[:cut], [DAY]).forecast(h)
        actual = y[cut : cut + h]
        inside.extend((actual >= fc.lower) & (actual <= fc.upper))
    assert 0.88 <= np.mean(inside) <= 0.995
