"""Known answers per model: each recovers what generated the data."""

import numpy as np
import pytest

from constellation.predictive import (
    ARIMA,
    AutoETS,
    ExponentialSmoothing,
    FitError,
    LinearTrend,
    Naive2,
    SeasonalNaive,
    STLForecaster,
    mstl,
)

RNG = np.random.default_rng(42)


def seasonal(n: int, m: int = 24, amp: float = 10.0, offset: int = 0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * (np.arange(n) + offset) / m)


def test_linear_trend_recovers_intercept_and_slope() -> None:
    t = np.arange(200.0)
    y = 3.0 + 0.5 * t + RNG.normal(0, 0.1, 200)
    m = LinearTrend().fit(y)
    assert m.intercept == pytest.approx(3.0, abs=0.05)
    assert m.slope == pytest.approx(0.5, abs=0.001)
    np.testing.assert_allclose(m.forecast(3), 3.0 + 0.5 * np.arange(200, 203), atol=0.1)
    # the interval widens away from the data
    s = m.sigma(100)
    assert s[-1] > s[0]


def test_robust_linear_trend_ignores_spikes() -> None:
    t = np.arange(100.0)
    y = 1.0 + 2.0 * t + RNG.normal(0, 0.1, 100)
    y[::10] += 500.0  # ten large spikes
    assert LinearTrend(robust=True).fit(y).slope == pytest.approx(2.0, abs=0.02)
    assert abs(LinearTrend().fit(y).slope - 2.0) > abs(LinearTrend(robust=True).fit(y).slope - 2.0)


@pytest.mark.parametrize("kind", ["add", "mul"])
def test_holt_winters_recovers_a_pure_seasonal(kind: str) -> None:
    y = 50.0 + seasonal(24 * 20)
    m = ExponentialSmoothing(seasonal=kind).fit(y, (24,))
    expected = 50.0 + seasonal(48, offset=24 * 20)
    np.testing.assert_allclose(m.forecast(48), expected, atol=1e-3)


def test_ses_forecasts_the_level_of_a_noisy_constant() -> None:
    y = 7.0 + RNG.normal(0, 1, 500)
    m = ExponentialSmoothing().fit(y)
    assert m.forecast(1)[0] == pytest.approx(7.0, abs=0.5)
    assert np.ptp(m.forecast(10)) == 0  # flat


def test_damped_holt_flattens_out() -> None:
    y = np.r_[np.arange(100.0), 100 + np.arange(100.0) * 0.2] + RNG.normal(0, 0.2, 200)
    f = ExponentialSmoothing(damped=True).fit(y).forecast(200)
    assert np.all(np.diff(f) >= -1e-9) and (f[-1] - f[-2]) < (f[1] - f[0])


def test_auto_ets_picks_a_seasonal_form_for_seasonal_data() -> None:
    y = 100 + seasonal(24 * 15) + RNG.normal(0, 0.5, 24 * 15)
    m = AutoETS().fit(y, (24,))
    assert m.best is not None and m.best.name.startswith("holt_winters")


def test_arima_recovers_an_ar1_coefficient() -> None:
    n, phi = 3000, 0.7
    e = RNG.normal(size=n)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = phi * y[t - 1] + e[t]
    m = ARIMA(order=(1, 0, 0)).fit(y + 20.0)
    assert m.coef is not None
    assert m.coef[0] == pytest.approx(phi, abs=0.04)
    assert m.mu == pytest.approx(20.0, abs=0.2)
    # forecasts decay towards the mean at rate phi
    f = m.forecast(50) - m.mu
    assert abs(f[-1]) < 1e-3 * max(1.0, abs(f[0])) + 1e-6


def test_arima_order_search_finds_ar_structure_and_differencing() -> None:
    rng = np.random.default_rng(11)
    e = rng.normal(size=1500)
    y = np.zeros(1500)
    for t in range(1, 1500):
        y[t] = 0.6 * y[t - 1] + e[t]
    m = ARIMA().fit(y)
    assert m.order is not None and m.order[1] == 0 and m.order[0] >= 1
    assert m.coef is not None and m.coef[0] == pytest.approx(0.6, abs=0.1)
    walk = np.cumsum(rng.normal(size=1500))
    assert ARIMA().fit(walk).order[1] == 1  # type: ignore[index]


def test_seasonal_arima_forecasts_a_repeating_pattern() -> None:
    y = 30 + seasonal(24 * 12) + RNG.normal(0, 0.3, 24 * 12)
    m = ARIMA().fit(y, (24,))
    assert m.seasonal_order[1] == 1
    expected = 30 + seasonal(24, offset=24 * 12)
    assert np.mean(np.abs(m.forecast(24) - expected)) < 0.6


def test_mstl_separates_daily_and_weekly_cycles() -> None:
    n = 24 * 7 * 6
    daily, weekly = seasonal(n, 24, 5.0), seasonal(n, 168, 3.0)
    y = 0.01 * np.arange(n) + daily + weekly + RNG.normal(0, 0.3, n)
    (s24, s168), trend = mstl(y, (24, 168))
    assert np.corrcoef(s24, daily)[0, 1] > 0.99
    assert np.corrcoef(s168, weekly)[0, 1] > 0.95
    assert np.std(y - s24 - s168 - trend) < 0.6


def test_stl_forecaster_continues_both_cycles() -> None:
    n = 24 * 7 * 6
    y = 10 + seasonal(n + 48, 24, 5.0) + seasonal(n + 48, 168, 3.0)
    m = STLForecaster().fit(y[:n], (24, 168))
    assert m.used_periods == (24, 168)
    assert np.mean(np.abs(m.forecast(48) - y[n:])) < 0.3


def test_seasonal_naive_repeats_the_last_cycle() -> None:
    y = np.arange(48.0)
    np.testing.assert_array_equal(
        SeasonalNaive().fit(y, (24,)).forecast(30), np.resize(y[-24:], 30)
    )
    assert SeasonalNaive().fit(np.array([1.0, 2.0, 5.0])).forecast(2).tolist() == [5.0, 5.0]


def test_naive2_reseasonalizes_a_naive_forecast() -> None:
    y = 100 * (1 + 0.2 * np.sin(2 * np.pi * np.arange(240) / 24))
    f = Naive2().fit(y, (24,)).forecast(24)
    np.testing.assert_allclose(f, y[-24:], rtol=0.02)


def test_models_refuse_what_they_cannot_fit() -> None:
    with pytest.raises(FitError, match="needs"):
        ExponentialSmoothing(seasonal="add").fit(np.ones(10) + np.arange(10), (24,))
    with pytest.raises(FitError, match="positive"):
        ExponentialSmoothing(seasonal="mul").fit(seasonal(24 * 5), (24,))
    with pytest.raises(FitError, match="non-finite"):
        LinearTrend().fit(np.array([1.0, np.nan, 3.0, 4.0]))


def test_predict_gives_bounds_around_the_mean() -> None:
    y = 5 + RNG.normal(0, 1, 300)
    fc = ExponentialSmoothing().fit(y).predict(10, level=0.9)
    assert np.all(fc.lower < fc.mean) and np.all(fc.mean < fc.upper)
    assert fc.level == 0.9 and fc.model == "ses"
