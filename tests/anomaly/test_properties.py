"""Property tests: any finite stream is handled; zscore, mad and iqr ignore a constant shift."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constellation.anomaly import (
    IQR,
    MAD,
    Ensemble,
    IsolationForest,
    MovingAverage,
    Pattern,
    RateChange,
    ZScore,
)

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
streams = st.lists(finite, min_size=0, max_size=120)


@settings(max_examples=40, deadline=None, database=None)
@given(values=streams)
def test_no_detector_crashes_on_a_finite_stream(values: list[float]) -> None:
    detectors = [
        ZScore(warmup=2),
        ZScore(alpha=0.3, warmup=2),
        IQR(warmup=2),
        MAD(warmup=2),
        MovingAverage(warmup=2),
        RateChange(warmup=2),
        Pattern(warmup=1),
        Ensemble(warmup=2),
        IsolationForest(window=16, retrain_every=8, sample=8),
    ]
    for detector in detectors:
        for i, x in enumerate(values):
            score = detector.score_learn(x, 1_600_000_000.0 + 600.0 * i)
            assert score >= 0.0 and not math.isnan(score)
            assert 0.0 <= detector.confidence(score) <= 1.0
        detector.baseline(3.0)


integers = st.lists(st.integers(min_value=-10_000, max_value=10_000), min_size=1, max_size=80)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ZScore(warmup=1, window=20),
        lambda: ZScore(warmup=1, alpha=0.25),
        lambda: MAD(warmup=1, window=15),
        lambda: IQR(warmup=1, window=15),
    ],
)
@settings(max_examples=40, deadline=None, database=None)
@given(values=integers, shift=st.integers(min_value=-(10**6), max_value=10**6))
def test_scores_are_unchanged_by_adding_a_constant(make, values: list[int], shift: int) -> None:
    plain, shifted = make(), make()
    for x in values:
        a = plain.score_learn(float(x))
        b = shifted.score_learn(float(x + shift))
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9)
