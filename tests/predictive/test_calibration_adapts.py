"""Per-series interval calibration from the series' own recent errors (issue 15, item 4).

The default model for minute-scale series (``mseason``) calibrates its intervals on its
own k-step errors over the recent window, the newer ones weighing more
(``_ensemble.RECENT_HALF_LIFE``): a series whose errors grow gets wider intervals soon
after, one whose errors shrink narrower ones, and a stationary series is covered at
about the nominal level.
"""

import numpy as np

from constellation.predictive import Forecaster
from constellation.predictive._intervals import Calibration, conformal_quantile, decay_weights

DAY = 288  # five-minute samples


def _series(n: int, sd: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 20 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 1, n) * sd


def _width(y: np.ndarray) -> float:
    f = Forecaster("ensemble", horizon=DAY, origins=4).fit(y, (DAY,))
    fc = f.forecast(12, 0.95)
    return float(np.mean(fc.upper - fc.lower))


def test_equal_weights_give_the_plain_conformal_quantile() -> None:
    rng = np.random.default_rng(3)
    errors = rng.standard_t(3, (200, 5))
    plain = Calibration.from_errors(errors, np.ones_like(errors))
    weighted = Calibration.from_errors(errors, np.ones_like(errors), np.ones(200))
    for level in (0.8, 0.95):
        q = conformal_quantile(np.abs(errors[:, 0]), level)
        assert plain.half_widths(np.ones(1), level)[0] == q
        assert weighted.half_widths(np.ones(1), level)[0] == q


def test_decayed_weights_follow_the_newest_errors() -> None:
    rng = np.random.default_rng(4)
    errors = rng.normal(0, 1, (400, 3))
    errors[-60:] *= 3  # the newest 15% of origins: three times the error
    scales = np.ones_like(errors)
    plain = Calibration.from_errors(errors, scales).half_widths(np.ones(3), 0.95)
    recent = Calibration.from_errors(errors, scales, decay_weights(400, 40.0))
    assert np.all(recent.half_widths(np.ones(3), 0.95) > 1.3 * plain)
    np.testing.assert_allclose(decay_weights(3, 1.0), [0.25, 0.5, 1.0])


def test_errors_that_double_widen_the_interval_within_a_day() -> None:
    n, at = 12 * DAY, 11 * DAY
    sd = np.where(np.arange(n) < at, 1.0, 2.0)
    y = _series(n, sd, seed=5)
    before = _width(y[:at])
    # (with equal weights and the backtest ratio only widening, as before: 1.01 and 1.64)
    assert _width(y[: at + DAY // 2]) > 1.15 * before  # 144 steps after the change
    assert _width(y[: at + DAY]) > 1.5 * before  # 288 steps after


def test_errors_that_halve_narrow_the_interval() -> None:
    n, at = 13 * DAY, 11 * DAY
    sd = np.where(np.arange(n) < at, 2.0, 1.0)
    y = _series(n, sd, seed=6)
    before = _width(y[:at])
    after = _width(y)  # two days (576 steps) after the change (as before: 0.84)
    assert after < 0.8 * before, (before, after)


def test_stationary_series_is_covered_at_about_95_percent() -> None:
    n = 9 * DAY
    y = _series(n + 40 * 12 * 6, np.ones(n + 40 * 12 * 6), seed=8)
    inside = total = 0
    for i in range(40):  # 40 origins, 6 hours apart, 12 steps each
        cut = n + i * 72
        fc = Forecaster("ensemble", horizon=DAY, origins=4).fit(y[:cut], (DAY,)).forecast(12)
        actual = y[cut : cut + 12]
        inside += int(np.sum((actual >= fc.lower) & (actual <= fc.upper)))
        total += 12
    cov = inside / total
    # binomial 99.9% band around 0.95 for 480 actuals: +-3.3 sd = +-0.033
    assert 0.915 <= cov <= 0.985, cov
