"""Interval coverage on simulated series with known noise, and the conformal quantile."""

import numpy as np
import pytest

from constellation.predictive import Forecaster
from constellation.predictive._intervals import Calibration, conformal_quantile


def test_conformal_quantile_is_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores: ceil(20 * 0.95) = 19th smallest
    assert conformal_quantile(scores, 0.95) == 19.0
    assert conformal_quantile(scores, 0.5) == 10.0
    assert conformal_quantile(np.array([]), 0.9) == float("inf")


def test_calibration_widths_scale_with_the_model_profile() -> None:
    cal = Calibration.from_errors(np.ones((3, 4)) * 2.0, np.ones((3, 4)))
    np.testing.assert_allclose(cal.half_widths(np.array([1.0, 2.0, 4.0]), 0.9), [2, 4, 8])
    # all errors are 2 per unit scale: within 10% of 100 (10 units) at scale 1 is certain
    np.testing.assert_allclose(cal.confidence(np.array([100.0, 10.0]), np.ones(2), 0.1), [1, 0])


@pytest.mark.slow
def test_95_percent_intervals_cover_about_95_percent_of_known_noise() -> None:
    rng = np.random.default_rng(0)
    inside, total = 0, 0
    for _ in range(40):
        n = 24 * 20
        t = np.arange(n + 24)
        y = 50 + 8 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 2.0, n + 24)
        f = Forecaster("holt_winters", horizon=24, origins=8).fit(y[:n], (24,))
        fc = f.forecast(24, 0.95)
        actual = y[n:]
        inside += int(np.sum((actual >= fc.lower) & (actual <= fc.upper)))
        total += actual.size
    coverage = inside / total
    assert 0.90 <= coverage <= 0.99, coverage


def test_confidence_is_higher_for_quieter_series() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(24 * 15)
    base = 100 + 10 * np.sin(2 * np.pi * t / 24)
    quiet = Forecaster("auto", horizon=24).fit(base + rng.normal(0, 1, t.size), (24,))
    loud = Forecaster("auto", horizon=24).fit(base + rng.normal(0, 15, t.size), (24,))
    assert quiet.forecast(12).confidence.mean() > loud.forecast(12).confidence.mean() + 0.3
