"""One meaning of sensitivity: k flags about P(|Z| > k) of a normal stream, for every method."""

from __future__ import annotations

import math
import random

import pytest

from constellation.anomaly import AnomalyRegistry
from constellation.anomaly._methods import build_filter, resolve_sensitivity
from constellation.anomaly._sensitivity import sensitivity_range, threshold_for
from constellation.errors import ValidationError

RARITY_METHODS = ("zscore", "iqr", "mad", "moving_average", "rate_change", "pattern")
CALIBRATED = ("ensemble", "isolation_forest")


def flagged_share(method: str, k: float, n: int = 20_000, seed: int = 99) -> float:
    """Share of a seeded N(0, 1) stream (seeds unlike the calibration's) flagged at k."""
    rng = random.Random(seed)
    level = resolve_sensitivity(method, k, {})
    flt, _ = build_filter(method, level, {})
    skip = 1_000
    flags = 0
    for i in range(n):
        _, anomalous = flt.update(rng.gauss(0.0, 1.0), 1_700_000_000.0 + 60.0 * i)
        flags += anomalous and i >= skip
    return flags / (n - skip)


@pytest.mark.parametrize("method", RARITY_METHODS + CALIBRATED)
def test_sensitivity_3_is_about_as_strict_for_every_method(method: str) -> None:
    expected = math.erfc(3 / math.sqrt(2))  # 0.27 %
    share = flagged_share(method, 3.0)
    assert expected / 3 <= share <= expected * 3, (method, share)


@pytest.mark.parametrize("method", RARITY_METHODS + CALIBRATED)
def test_a_larger_sensitivity_is_stricter(method: str) -> None:
    assert flagged_share(method, 3.75, n=8_000) <= flagged_share(method, 3.0, n=8_000)


def test_the_calibrated_mapping_interpolates_within_its_grid() -> None:
    assert threshold_for("zscore", 3.0) == 3.0
    assert threshold_for("iqr", 2.698) == pytest.approx(1.5, abs=1e-3)  # Tukey's fence
    low, high = threshold_for("ensemble", 3.0), threshold_for("ensemble", 3.25)
    assert low < threshold_for("ensemble", 3.1) < high
    assert sensitivity_range("ensemble") == (2.75, 4.0)


@pytest.mark.parametrize(
    ("method", "value", "allowed"),
    [("ensemble", 0.75, "2.75-4.0"), ("isolation_forest", 9.0, "1.5-4.0"), ("iqr", 0.5, "0.6745")],
)
def test_a_value_the_method_cannot_use_is_refused_with_its_range(
    method: str, value: float, allowed: str
) -> None:
    registry = AnomalyRegistry()
    with pytest.raises(ValidationError, match=allowed) as caught:
        registry.create_detector("latency", method, value)
    assert "sensitivity" in str(caught.value)
    assert registry.detectors() == []


def test_the_seeds_3_0_flags_a_spike_with_the_default_ensemble() -> None:
    registry = AnomalyRegistry()
    d = registry.create_detector("latency", "ensemble", 3.0)
    rng = random.Random(5)
    for i in range(600):
        registry.detect(d, 50 + 10 * math.sin(i / 20) + rng.gauss(0, 1), timestamp=float(i))
    assert registry.detect(d, 500.0, timestamp=600.0)
