"""M4 Hourly on a few real series: the ensemble beats seasonal naive, intervals cover.

The full evaluation (414 series, peers) is benchmarks/predictive_forecast_eval.py; this
test keeps five series spread over the set so it stays quick.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from constellation.predictive import Forecaster, SeasonalNaive, detect_periods

H, M = 48, 24
PICK = (0, 83, 166, 249, 332)


def read(path: Path) -> list[np.ndarray]:
    with open(path) as fh:
        rows = list(csv.reader(fh))[1:]
    return [np.array([float(x) for x in rows[i][1:] if x]) for i in PICK]


def mase(train: np.ndarray, actual: np.ndarray, fc: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - fc)) / np.mean(np.abs(train[M:] - train[:-M])))


@pytest.mark.data
@pytest.mark.slow
def test_ensemble_beats_seasonal_naive_on_m4_hourly(data_dir: Path) -> None:
    trains = read(data_dir / "m4-hourly" / "Hourly-train.csv")
    tests = read(data_dir / "m4-hourly" / "Hourly-test.csv")
    ours, naive, inside = [], [], 0
    for y, actual in zip(trains, tests, strict=True):
        assert actual.size == H
        found = sorted(detect_periods(y, 3600.0), key=lambda p: p.strength, reverse=True)
        periods = [p.samples for p in found]
        assert M in periods  # every one of these has a significant daily cycle
        fc = Forecaster("ensemble", horizon=H).fit(y, periods).forecast(H)
        ours.append(mase(y, actual, fc.mean))
        naive.append(mase(y, actual, SeasonalNaive().fit(y, [M]).forecast(H)))
        inside += int(np.sum((actual >= fc.lower) & (actual <= fc.upper)))
    assert np.mean(ours) < np.mean(naive)
    coverage = inside / (H * len(PICK))
    assert 0.8 <= coverage <= 1.0, coverage
