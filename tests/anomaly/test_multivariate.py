"""Multivariate detectors (pca, mset): one conformance suite over both methods."""

from __future__ import annotations

import math

import numpy as np
import pytest

from constellation.anomaly import AnomalyRegistry
from constellation.errors import ValidationError
from constellation.store import Store
from tests._support import FakeClock

METHODS = ("pca", "mset")
NAMES = ["pressure", "temperature", "current", "vibration"]


def normal_vector(rng: np.random.Generator, drift: float = 0.0) -> dict[str, float | None]:
    """Pressure and temperature move together; current and vibration are noise."""
    load = rng.normal()
    return {
        "pressure": 1.0 + 0.1 * load + 0.01 * rng.normal() + drift,
        "temperature": 70.0 + 2.0 * load + 0.1 * rng.normal() + 20 * drift,
        "current": 1.2 + 0.05 * rng.normal(),
        "vibration": 0.03 + 0.001 * rng.normal(),
    }


def trained(registry: AnomalyRegistry, method: str, clock: FakeClock, n: int = 300):  # type: ignore[no-untyped-def]
    d = registry.create_detector(metrics=NAMES, method=method, train=200)
    rng = np.random.default_rng(7)
    alarms = []
    for _ in range(n):
        clock.advance(1)
        alarms.append(registry.detect(d, normal_vector(rng)))
    return d, rng, alarms


@pytest.mark.parametrize("method", METHODS)
def test_learns_the_normal_period_then_stays_quiet(registry, clock, method) -> None:
    d, _, alarms = trained(registry, method, clock)
    assert alarms[:200] == [None] * 200  # no decision while it learns
    assert sum(a is not None for a in alarms[200:]) <= 2
    assert d.points == 300 and d.metrics == NAMES and d.metric == ",".join(NAMES)


@pytest.mark.parametrize("method", METHODS)
def test_a_broken_relation_is_found_and_its_metrics_named(registry, clock, method) -> None:
    d, rng, _ = trained(registry, method, clock)
    assert registry.get_active() == []  # quiet while normal (both methods)
    found = None
    for _ in range(10):  # pressure up while temperature goes down: each in its range
        clock.advance(1)
        load = rng.normal()
        vector = {"pressure": 1.0 + 0.15, "temperature": 70.0 - 3.0, "current": 1.2}
        vector["vibration"] = 0.03 + 0.0 * load
        found = registry.detect(d, vector) or found
    assert found is not None and found.type == "correlation"
    assert found.contributors[0] in {"pressure", "temperature"}
    assert found.contributors[0] in found.recommendation
    assert "left their usual joint behaviour" in found.recommendation
    assert found.details["shares"].startswith(found.contributors[0])
    assert found.score > 4.0 and 0 < found.confidence <= 1
    assert found.expected_value is not None and math.isfinite(found.expected_value)


@pytest.mark.parametrize("method", METHODS)
def test_missing_and_nan_values_are_handled_not_raised(registry, clock, method) -> None:
    d, rng, _ = trained(registry, method, clock)
    alarms = 0
    for i in range(100):
        clock.advance(1)
        vector = normal_vector(rng)
        if i % 3 == 0:
            vector["current"] = None
        if i % 5 == 0:
            vector["pressure"] = math.nan
        if i % 7 == 0:
            del vector["vibration"]
        alarms += registry.detect(d, vector) is not None
    assert alarms <= 2 and d.points == 400
    clock.advance(1)
    assert registry.detect(d, {}) is None  # nothing known: scored as expected


@pytest.mark.parametrize("method", METHODS)
def test_it_keeps_adapting_to_slow_drift(registry, clock, method) -> None:
    d, rng, _ = trained(registry, method, clock)
    late = 0
    for i in range(3000):  # a slow drift of the operating point, 0.0001 a step
        clock.advance(1)
        late += registry.detect(d, normal_vector(rng, drift=0.0001 * i)) is not None and i > 2000
    assert late <= 10


@pytest.mark.parametrize("method", METHODS)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(registry, method) -> None:
    for metrics, field in ((["only"], "metrics"), ("a,b", "metrics"), (["a", "a"], "metrics")):
        with pytest.raises(ValidationError) as info:
            registry.create_detector(metrics=metrics, method=method)
        assert info.value.field == field
    with pytest.raises(ValidationError) as info:
        registry.create_detector(metrics=NAMES, method="zscore")
    assert info.value.field == "metrics" and "pca" in str(info.value)
    with pytest.raises(ValidationError) as info:
        registry.create_detector(metrics=NAMES, method=method, window=5)
    assert info.value.field == "window" and "train" in str(info.value)
    assert registry.detectors() == []
    d = registry.create_detector(metrics=NAMES, method=method)
    for value, field in (({"nope": 1.0}, "value"), (3.0, "value"), ({"current": math.inf}, None)):
        with pytest.raises(ValidationError) as info:
            registry.detect(d, value)  # type: ignore[arg-type]
        assert field is None or info.value.field == field
    assert d.points == 0


def test_mset_options_are_checked_naming_the_field(registry) -> None:
    for option, value in (("width", 0), ("ridge", 2.0), ("tail", 1.0), ("memory", 2)):
        with pytest.raises(ValidationError) as info:
            registry.create_detector(metrics=NAMES, method="mset", **{option: value})
        assert info.value.field == option
    assert registry.detectors() == []


def test_a_single_metric_detector_refuses_a_mapping(registry) -> None:
    d = registry.create_detector("cpu", "zscore")
    with pytest.raises(ValidationError, match="metrics="):
        registry.detect(d, {"cpu": 1.0})


def test_contributors_survive_the_store(tmp_path, clock) -> None:
    with Store(tmp_path / "s.db") as store:
        reg = AnomalyRegistry(store=store, clock=clock)
        d, _, _ = trained(reg, "pca", clock)
        clock.advance(1)
        found = None
        for _ in range(5):
            found = reg.detect(d, {"pressure": 1.15, "temperature": 67.0, "current": 1.2}) or found
        assert found is not None
        reg.shutdown()
        again = AnomalyRegistry(store=store, clock=clock)
        assert again.get(found.id).contributors == found.contributors
        again.shutdown()
