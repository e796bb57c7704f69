"""One cross-check per model against statsmodels (a dev dependency), on the same inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from constellation.predictive import ARIMA, ExponentialSmoothing, LinearTrend, stl
from constellation.predictive._arima import FIT_WINDOW, kpss_stat
from constellation.predictive._ets import _initial_state
from constellation.predictive._naive import acf, classical_indices

sm = pytest.importorskip("statsmodels.api")

RNG = np.random.default_rng(9)


def hourly(n: int) -> np.ndarray:
    t = np.arange(n)
    return 40 + 0.02 * t + 6 * np.sin(2 * np.pi * t / 24) + RNG.normal(0, 1, n)


def test_linear_trend_matches_ols() -> None:
    y = hourly(300)
    ours = LinearTrend().fit(y)
    ols = sm.OLS(y, sm.add_constant(np.arange(300.0))).fit()
    np.testing.assert_allclose([ours.intercept, ours.slope], ols.params, rtol=1e-9)


@pytest.mark.parametrize(
    ("trend", "damped", "seasonal"),
    [(False, False, None), (True, False, None), (True, True, None), (True, True, "add")],
)
def test_exponential_smoothing_recursion_matches_statsmodels(
    trend: bool, damped: bool, seasonal: str | None
) -> None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing as SMExp

    y = hourly(24 * 12)
    ours = ExponentialSmoothing(trend=trend, damped=damped, seasonal=seasonal)
    ours.params = np.array([0.4] + [0.3] * trend + [0.2] * bool(seasonal) + [0.9] * damped)
    ours.fit(y, (24,))
    a, b, g, phi = ours._unpack(ours.params)
    m = 24 if seasonal else 0
    s0 = _initial_state(y, trend, m)
    known = {"initial_level": s0[0]}
    if trend:
        known["initial_trend"] = s0[1]
    if seasonal:
        known["initial_seasonal"] = s0[1 + int(trend) :][::-1]
    model = SMExp(
        y,
        trend="add" if trend else None,
        damped_trend=damped,
        seasonal=seasonal,
        seasonal_periods=24 if seasonal else None,
        initialization_method="known",
        **known,
    )
    params = {"smoothing_level": a, "optimized": False}
    if trend:
        params["smoothing_trend"] = b / a  # statsmodels' beta* (ours is alpha * beta*)
    if seasonal:
        params["smoothing_seasonal"] = g
    if damped:
        params["damping_trend"] = phi
    fit = model.fit(**params)
    np.testing.assert_allclose(y - ours.residuals, fit.fittedvalues, rtol=1e-8, atol=1e-8)
    # Forecasts agree at every step except h = m (step 24), where statsmodels 0.15 takes a
    # different season than the recursion continued with zero errors; ours is checked
    # against that continuation (w' F^(h-1) s) below.
    steps = np.arange(30) + 1
    off_cycle = steps % 24 != 0 if seasonal else np.ones(30, dtype=bool)
    np.testing.assert_allclose(
        ours.forecast(30)[off_cycle], fit.forecast(30)[off_cycle], rtol=1e-8, atol=1e-8
    )
    F, w = ours.spec.F, ours.spec.w
    continued = [w @ np.linalg.matrix_power(F, h) @ ours.state for h in range(30)]
    np.testing.assert_allclose(ours.forecast(30), continued, rtol=1e-9, atol=1e-9)


def test_arima_ar1_matches_statsmodels() -> None:
    from statsmodels.tsa.ar_model import AutoReg
    from statsmodels.tsa.arima.model import ARIMA as SMARIMA

    e = RNG.normal(size=2000)
    y = np.zeros(2000)
    for t in range(1, 2000):
        y[t] = 0.55 * y[t - 1] + e[t]
    ours = ARIMA(order=(1, 0, 0)).fit(y + 3)
    assert ours.coef is not None
    # conditional least squares (what we fit, on the last FIT_WINDOW points) against
    # statsmodels' conditional OLS on the same points ...
    cls = AutoReg(y[-FIT_WINDOW:] + 3, lags=1, trend="c").fit()
    assert ours.coef[0] == pytest.approx(cls.params[1], abs=0.002)
    # ... and against exact maximum likelihood, which differs by far less than its s.e.
    mle = SMARIMA(y + 3, order=(1, 0, 0)).fit()
    assert ours.coef[0] == pytest.approx(mle.params[1], abs=0.5 * mle.bse[1] + 0.01)
    np.testing.assert_allclose(ours.forecast(5), mle.forecast(5), atol=0.05)


def test_stl_seasonal_matches_statsmodels() -> None:
    from statsmodels.tsa.seasonal import STL

    y = hourly(24 * 20)
    seasonal, trend = stl(y, 24, ns=7)
    ref = STL(y, period=24, seasonal=7, robust=False).fit()
    assert np.corrcoef(seasonal, ref.seasonal)[0, 1] > 0.99
    assert np.max(np.abs(trend - ref.trend)[24:-24]) < 0.5  # interior; ends differ by design


def test_naive2_indices_match_classical_decomposition() -> None:
    from statsmodels.tsa.seasonal import seasonal_decompose

    y = 100 + hourly(24 * 10)
    ours = classical_indices(y, 24)
    ref = seasonal_decompose(y, model="multiplicative", period=24).seasonal[:24]
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


def test_acf_and_kpss_match_statsmodels() -> None:
    from statsmodels.tsa.stattools import acf as sm_acf
    from statsmodels.tsa.stattools import kpss

    y = hourly(500)
    np.testing.assert_allclose(acf(y, 30), sm_acf(y, nlags=30, fft=True), atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns that the p-value is clipped
        stat = kpss(y, regression="c", nlags=int(3 * np.sqrt(500) / 13))[0]
    assert kpss_stat(y) == pytest.approx(stat, rel=1e-9)
