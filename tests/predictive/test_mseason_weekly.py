"""mseason on two weeks of data: the weekday/weekend step, a trend, interval coverage."""

import numpy as np
import pytest

from constellation.predictive import Forecaster, MultiSeasonal

DAY = 288  # 5-minute steps
WEEK = 7 * DAY


def weekly_step(n: int, seed: int, step: float = 6.0, trend: float = 0.0) -> np.ndarray:
    """Daily sine, weekend days ``step`` lower (days 5 and 6 of each week), noise sd 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    weekend = (t // DAY) % 7 >= 5
    y = 40 + 6 * np.sin(2 * np.pi * t / DAY) - step * weekend + trend * t
    return np.asarray(y + rng.normal(0, 1.0, n), dtype=np.float64)


def truth(start: int, h: int, step: float = 6.0, trend: float = 0.0) -> np.ndarray:
    t = np.arange(start, start + h)
    weekend = (t // DAY) % 7 >= 5
    return np.asarray(40 + 6 * np.sin(2 * np.pi * t / DAY) - step * weekend + trend * t)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weekend_step_is_forecast_from_last_week(seed: int) -> None:
    # two weeks and five days: the origin is Saturday 00:00, the weekly period is not
    # given (only the daily one), and the step has happened twice before
    cut = 2 * WEEK + 5 * DAY
    y = weekly_step(cut, seed)
    m = MultiSeasonal().fit(y, [DAY])
    assert m.weekly.period == WEEK and m.weekly.beta > 0
    fc = m.forecast(12)
    expected = truth(cut, 12)
    assert np.mean(np.abs(fc - expected)) < 0.3 * 6.0
    # without the carried step the forecast would sit at the weekday level
    plain = fc - m.weekly.forecast(12)
    assert np.mean(np.abs(plain - expected)) > 0.6 * 6.0


@pytest.mark.parametrize("seed", [3, 4])
def test_weekday_return_is_forecast_too(seed: int) -> None:
    cut = 3 * WEEK  # Monday 00:00 after three weekends
    y = weekly_step(cut, seed)
    fc = MultiSeasonal().fit(y, [DAY]).forecast(12)
    assert np.mean(np.abs(fc - truth(cut, 12))) < 0.3 * 6.0


@pytest.mark.parametrize("seed", [5, 6])
def test_no_weekly_pattern_nothing_carried(seed: int) -> None:
    y = weekly_step(2 * WEEK + 3 * DAY, seed, step=0.0)
    m = MultiSeasonal().fit(y, [DAY])
    assert np.max(np.abs(m.weekly.forecast(64))) < 1.0  # at most a stray noise value
    fc = m.forecast(12)
    assert np.mean(np.abs(fc - truth(y.size, 12, step=0.0))) < 1.0


def test_trend_is_followed() -> None:
    # the trend moves the series by 40 noise sd over the data; one hour ahead the
    # forecast must stay within one noise sd of the truth
    n = 10 * DAY
    y = weekly_step(n, 7, step=0.0, trend=0.014)
    m = MultiSeasonal().fit(y, [DAY])
    fc = m.forecast(12)
    assert np.mean(np.abs(fc - truth(n, 12, step=0.0, trend=0.014))) < 1.0


def test_shift_reset_turns_the_correction_off() -> None:
    cut = 2 * WEEK + 5 * DAY + 10  # ten steps into the weekend: the reset has fired
    y = weekly_step(cut, 8, step=10.0)
    m = MultiSeasonal().fit(y, [DAY])
    assert m.shift_reset
    plain = np.full(12, m.level) + np.resize(m.profiles[0], 12)
    np.testing.assert_allclose(m.forecast(12), plain)
    assert np.mean(np.abs(m.forecast(12) - truth(cut, 12, step=10.0))) < 0.3 * 10.0


@pytest.mark.parametrize("seed", [20, 21])
def test_coverage_on_stationary_ar1_noise_within_a_band(seed: int) -> None:
    # the default on a long series (mseason alone), intervals from its own recent
    # errors: 95% intervals on AR(1) noise around a daily cycle cover 88-99%
    rng = np.random.default_rng(seed)
    n, h, origins = 8 * DAY, 12, 40
    e = rng.normal(0, 1.0, n + origins * h)
    noise = np.zeros(e.size)
    for i in range(1, e.size):
        noise[i] = 0.5 * noise[i - 1] + e[i]
    y = truth(0, e.size, step=0.0) + noise
    inside = []
    for k in range(origins):
        cut = n + k * h
        fc = Forecaster("ensemble", horizon=h, origins=4).fit(y[:cut], [DAY]).forecast(h)
        assert fc.model == "mseason"
        actual = y[cut : cut + h]
        inside.extend((actual >= fc.lower) & (actual <= fc.upper))
    assert 0.88 <= np.mean(inside) <= 0.99
