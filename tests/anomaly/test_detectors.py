"""Known-answer tests for each detector and the rolling statistics underneath."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from constellation.anomaly import (
    IQR,
    MAD,
    Correlation,
    Ensemble,
    IsolationForest,
    MovingAverage,
    Pattern,
    RateChange,
    Threshold,
    ThresholdFilter,
    ZScore,
)
from constellation.anomaly._base import MAX_SCORE
from constellation.anomaly._sensitivity import threshold_for
from constellation.anomaly._windows import RollingMoments, SortedWindow, kth_of_two_sorted
from constellation.errors import ValidationError


def feed(detector, values, start: float = 0.0, step: float = 60.0) -> list[float]:
    return [detector.score_learn(v, start + i * step) for i, v in enumerate(values)]


def test_rolling_moments_match_numpy_over_the_window() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(1e6, 3.0, 500)
    stats = RollingMoments(50)
    for x in data:
        stats.add(float(x))
    assert stats.mean == pytest.approx(data[-50:].mean(), rel=1e-12)
    assert stats.variance == pytest.approx(data[-50:].var(ddof=1), rel=1e-9)


def test_sorted_window_quantiles_and_mad_match_numpy() -> None:
    rng = np.random.default_rng(2)
    data = rng.exponential(2.0, 300)
    for size in (7, 8, 64):
        window = SortedWindow(size)
        for x in data:
            window.add(float(x))
        tail = data[-size:]
        assert window.median == pytest.approx(np.median(tail))
        assert window.quantile(0.25) == pytest.approx(np.quantile(tail, 0.25))
        assert window.mad() == pytest.approx(np.median(np.abs(tail - np.median(tail))))


def test_kth_of_two_sorted_agrees_with_sorting() -> None:
    rnd = random.Random(3)
    for _ in range(200):
        a = sorted(rnd.randint(0, 20) for _ in range(rnd.randint(0, 6)))
        b = sorted(rnd.randint(0, 20) for _ in range(rnd.randint(0, 6)))
        merged = sorted(a + b)
        for k in range(len(merged)):
            got = kth_of_two_sorted(a.__getitem__, len(a), b.__getitem__, len(b), k)
            assert got == merged[k]


def test_zscore_known_answer() -> None:
    d = ZScore(window=4)
    for x in (1.0, 2.0, 3.0, 4.0):
        d.learn_one(x)
    # mean 2.5, sample std sqrt(5/3)
    assert d.score_one(10.0) == pytest.approx(7.5 / math.sqrt(5 / 3))
    assert d.baseline(2.0).upper == pytest.approx(2.5 + 2 * math.sqrt(5 / 3))


def test_zscore_ewm_tracks_recent_values() -> None:
    d = ZScore(alpha=0.5)
    feed(d, [0.0] * 20 + [10.0] * 20)
    assert d.baseline(3.0).expected == pytest.approx(10.0, abs=1e-4)


def test_iqr_known_answer() -> None:
    d = IQR(window=5)
    for x in (1.0, 2.0, 3.0, 4.0, 5.0):
        d.learn_one(x)
    # q1 = 2, q3 = 4, IQR = 2: 10 is (10 - 4) / 2 = 3 IQRs above Q3
    assert d.score_one(10.0) == pytest.approx(3.0)
    assert d.score_one(3.0) == 0.0
    assert d.score_one(0.0) == pytest.approx(1.0)


def test_mad_known_answer() -> None:
    d = MAD(window=5)
    for x in (1.0, 2.0, 3.0, 4.0, 100.0):
        d.learn_one(x)
    # median 3, deviations 2,1,0,1,97 -> MAD 1; 1.4826 MAD
    assert d.score_one(3.0 + 1.4826 * 4) == pytest.approx(4.0)


def test_moving_average_follows_a_trend_without_alarm() -> None:
    d = MovingAverage(alpha=0.3, beta=0.1)
    scores = feed(d, [float(i) + (0.5 if i % 2 else -0.5) for i in range(300)])
    assert max(scores[50:]) < 3.0
    assert d.score_one(300.0 + 40.0) > 10.0


def test_threshold_limits() -> None:
    d = Threshold(upper=0.05)
    assert d.score_one(0.04) == 0.0
    assert d.score_one(0.07) == pytest.approx(0.02)
    both = Threshold(upper=10.0, lower=2.0)
    assert both.score_one(1.0) == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="lower"):
        Threshold(upper=1.0, lower=2.0)


def test_rate_change_flags_a_jump_not_a_steady_climb() -> None:
    d = RateChange(window=100)
    scores = feed(d, [float(i) + 0.1 * (i % 3) for i in range(200)])
    assert max(scores[20:]) < 4.0
    assert d.score_one(199.0 + 30.0) > 10.0


def test_pattern_learns_the_hour_of_day() -> None:
    d = Pattern(period="day", alpha=0.2)
    # busy (100) at 12:00 UTC, quiet (10) otherwise, for 10 days, hourly
    for h in range(24 * 10):
        t = h * 3600.0
        d.learn_one(100.0 if h % 24 == 12 else 10.0 + (h % 2), t)
    noon, midnight = 10 * 86400 + 12 * 3600.0, 10 * 86400.0
    assert d.score_one(100.0, noon) < 1.0
    assert d.score_one(100.0, midnight) > 10.0
    with pytest.raises(ValidationError, match="timestamp"):
        d.score_one(1.0)


def test_correlation_flags_a_broken_relation() -> None:
    d = Correlation(window=200)
    rng = np.random.default_rng(4)
    for _ in range(300):
        requests = float(rng.uniform(100, 1000))
        d.learn_pair(requests, 0.05 * requests + float(rng.normal(0, 1)))
    assert d.correlation > 0.99
    assert d.score_pair(800.0, 40.0) < 3.0
    assert d.score_pair(800.0, 5.0) > 10.0  # CPU collapsed while requests stayed high


def test_isolation_forest_flags_an_outlier() -> None:
    d = IsolationForest(window=256, n_trees=25, retrain_every=128, seed=1)
    rng = np.random.default_rng(5)
    for x in rng.normal(50, 2, 400):
        d.learn_one(float(x))
    normal = d.score_one(50.5)
    assert normal < 3.0
    assert d.score_one(90.0) > normal + 3.0


def test_ensemble_raises_one_alarm_per_event() -> None:
    d = Ensemble()
    rng = np.random.default_rng(6)
    values = list(rng.normal(10, 1, 600)) + [30.0] * 50 + list(rng.normal(10, 1, 50))
    scores = feed(d, [float(v) for v in values])
    flagged = [i for i, s in enumerate(scores) if s > threshold_for("ensemble", 3.0)]
    assert 600 in flagged
    assert len([i for i in flagged if 600 <= i < 650]) == 1


@pytest.mark.parametrize(
    "detector", [ZScore(), IQR(), MAD(), MovingAverage(), RateChange(), Ensemble()]
)
def test_constant_series_scores_zero_without_division_by_zero(detector) -> None:
    scores = feed(detector, [5.0] * 300)
    assert max(scores) == 0.0
    assert detector.score_one(6.0) > 0.0


def test_a_deviation_from_a_constant_series_is_capped() -> None:
    d = ZScore()
    feed(d, [5.0] * 50)
    assert d.score_one(6.0) == MAX_SCORE


def test_threshold_filter_protects_the_baseline_but_not_forever() -> None:
    f = ThresholdFilter(ZScore(window=50), threshold=3.0, max_protected=5)
    rng = np.random.default_rng(7)
    for x in rng.normal(0, 1, 100):
        f.update(float(x))
    flags = [f.update(100.0)[1] for _ in range(60)]
    assert flags[:5] == [True] * 5  # protected: the spike does not become normal at once
    assert not flags[-1]  # a lasting level becomes the new normal: no endless alarm


def test_filter_never_flags_during_warmup() -> None:
    f = ThresholdFilter(ZScore(warmup=10), threshold=3.0)
    assert [f.update(x)[1] for x in (1.0, 1.0, 1000.0)] == [False, False, False]


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: ZScore(window=1), "window"),
        (lambda: ZScore(alpha=1.5), "alpha"),
        (lambda: Pattern(period="month"), "period"),
        (lambda: Ensemble(bins=1), "bins"),
        (lambda: IsolationForest(window=4), "window"),
    ],
)
def test_bad_parameters_name_the_field(factory, field) -> None:
    with pytest.raises(ValidationError) as info:
        factory()
    assert info.value.field == field
