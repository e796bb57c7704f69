"""One conformance suite over every method of ``create_detector`` (river's habit of one
check suite run against each estimator): the same contract, whatever the method."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from constellation.anomaly import METHODS, AnomalyRegistry
from constellation.errors import ValidationError
from constellation.store import Store
from tests._support import FakeClock

MULTI = ("pca", "mset")
NAMES = ["a", "b", "c"]


def _make(registry: AnomalyRegistry, method: str, sensitivity: float | None = None):  # type: ignore[no-untyped-def]
    if method in MULTI:
        return registry.create_detector(
            metrics=NAMES, method=method, sensitivity=sensitivity, service_name="svc"
        )
    if method == "correlation":
        return registry.create_detector(
            "y", method, sensitivity, paired_with="x", service_name="svc"
        )
    if method == "threshold":
        limit = 200.0 if sensitivity is None else sensitivity
        return registry.create_detector("y", method, limit, service_name="svc")
    return registry.create_detector("y", method, sensitivity, service_name="svc")


def _normal(method: str, rng: np.random.Generator) -> tuple[Any, dict[str, float]]:
    """(value, extra detect kwargs) of a normal step."""
    x = float(rng.normal(100, 5))
    if method in MULTI:
        load = float(rng.normal())
        return {"a": load, "b": 2 * load + 0.1 * float(rng.normal()), "c": float(rng.normal())}, {}
    if method == "correlation":
        return 2 * x + float(rng.normal(0, 1)), {"paired_value": x}
    return x, {}


def _anomalous(method: str) -> tuple[Any, dict[str, float]]:
    if method in MULTI:
        return {"a": 1.0, "b": -2.0, "c": 0.0}, {}  # a and b break their relation
    if method == "correlation":
        return 2 * 100 + 60.0, {"paired_value": 100.0}
    return 100 + 60 * 5.0, {}  # 60 deviations out


def _stream(registry: AnomalyRegistry, d: Any, method: str, clock: FakeClock, n: int) -> int:
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(n):
        clock.advance(60)
        value, extra = _normal(method, rng)
        alarms += registry.detect(d, value, **extra) is not None
    return alarms


WARM = 1_600  # a day of minutes and some: pattern's hourly slots are warm by then


@pytest.mark.parametrize("method", sorted(METHODS))
def test_finds_a_gross_anomaly_after_a_quiet_normal_stream(method: str, clock: FakeClock) -> None:
    registry = AnomalyRegistry(clock=clock)
    d = _make(registry, method)
    alarms = _stream(registry, d, method, clock, WARM)
    assert alarms <= 0.02 * WARM, alarms
    found = None
    for _ in range(3):
        clock.advance(60)
        value, extra = _anomalous(method)
        found = registry.detect(d, value, **extra) or found
    assert found is not None, method
    assert found.service_name == "svc" and found.recommendation and found.method == method
    assert 0 <= found.confidence <= 1 and found.score > 0


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "3"])
def test_a_bad_sensitivity_is_refused_and_creates_nothing(method: str, bad: object) -> None:
    registry = AnomalyRegistry()
    with pytest.raises(ValidationError) as info:
        _make(registry, method, bad)  # type: ignore[arg-type]
    assert info.value.field == "sensitivity"
    assert registry.detectors() == []


@pytest.mark.parametrize("method", sorted(METHODS))
def test_repeated_timestamps_are_accepted(method: str) -> None:
    registry = AnomalyRegistry()
    d = _make(registry, method)
    rng = np.random.default_rng(2)
    for t in (1_000.0, 1_000.0, 990.0, 1_060.0):
        value, extra = _normal(method, rng)
        registry.detect(d, value, timestamp=t, **extra)
    assert d.points == 4


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_restored_detector_scores_as_if_never_stopped(method: str, tmp_path) -> None:
    clock = FakeClock(1_700_000_000.0)
    with Store(tmp_path / "s.db") as store:
        first = AnomalyRegistry(store=store, clock=clock)
        d = _make(first, method)
        _stream(first, d, method, clock, 700)
        twin_registry = AnomalyRegistry(clock=FakeClock(clock.now))
        twin = _make(twin_registry, method)
        for name in ("_filter", "_pair", "_multi", "points", "last_timestamp"):
            setattr(twin, name, copy.deepcopy(getattr(d, name)))
        first.shutdown()
        second = AnomalyRegistry(store=store, clock=clock)
        again = _make(second, method)
        assert again.restored and again.points == 700
        rng = np.random.default_rng(5)
        for _ in range(30):
            clock.advance(60)
            twin_registry.clock.advance(60)  # type: ignore[attr-defined]
            value, extra = _normal(method, rng)
            second.detect(again, value, **extra)
            twin_registry.detect(twin, value, **extra)
            assert again.last_score == pytest.approx(twin.last_score), method
        second.shutdown()
