"""Registry behaviour: continuing anomalies, auto-resolve, rules, callbacks, bad input."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from constellation.anomaly import AnomalyRegistry
from constellation.errors import NotFoundError, ValidationError


def warm(reg, d, clock, n: int = 80, mean: float = 50.0, sd: float = 2.0, seed: int = 1) -> None:
    for v in np.random.default_rng(seed).normal(mean, sd, n):
        clock.advance(10)
        reg.detect(d, float(v))


def test_a_continuing_anomaly_updates_one_record_then_auto_resolves(registry, clock) -> None:
    d = registry.create_detector("p95_latency", "zscore", 3.0)
    warm(registry, d, clock)
    seen = []
    for v in (200.0, 260.0, 230.0):
        clock.advance(60)
        seen.append(registry.detect(d, v, instance_id="i-9"))
    assert seen[0] is seen[1] is seen[2]
    record = seen[0]
    assert record.points == 3 and record.detected_value == 260.0
    assert record.duration_s == 120.0
    assert "for 2 min on instance i-9" in record.recommendation
    for _ in range(registry.auto_resolve_after):
        clock.advance(10)
        assert registry.detect(d, 50.0, instance_id="i-9") is None
    assert record.resolved_at is not None
    assert registry.get_active() == []
    assert registry.get_stats()["anomalies_resolved"] == 1


def test_a_level_shift_does_not_become_an_alarm_storm(registry, clock) -> None:
    d = registry.create_detector("queue_depth", "zscore", 3.0)
    warm(registry, d, clock)
    for v in np.random.default_rng(2).normal(500.0, 2.0, 300):
        clock.advance(10)
        registry.detect(d, float(v))
    assert registry.get_stats()["anomalies_detected"] == 1
    assert registry.get_active() == []  # the new level became normal and it resolved


def test_rules_set_severity_by_glob_threshold_and_type(registry, clock) -> None:
    registry.create_rule("latency_warn", "*_latency", threshold=3.0, severity="warning")
    registry.create_rule("latency_crit", "*_latency", threshold=10.0, severity="critical")
    registry.create_rule("errors", "errors_*", threshold=0.0, severity="critical", type="threshold")
    lat = registry.create_detector("api_latency", "zscore", 3.0)
    warm(registry, lat, clock)
    clock.advance(10)
    assert registry.detect(lat, 62.0).severity == "warning"  # about 6 sigma
    other = registry.create_detector("db_latency", "zscore", 3.0)
    warm(registry, other, clock)
    clock.advance(10)
    assert registry.detect(other, 500.0).severity == "critical"
    errs = registry.create_detector("errors_auth", "threshold", 0.05)
    clock.advance(10)
    found = registry.detect(errs, 0.2)
    assert found.severity == "critical" and found.type == "threshold"
    assert "limit 0.05" in found.recommendation
    plain = registry.create_detector("cpu", "zscore", 3.0)
    warm(registry, plain, clock)
    clock.advance(10)
    assert registry.detect(plain, 90.0).severity == "warning"  # no rule: the default


def test_a_rule_below_its_threshold_gives_info(registry, clock) -> None:
    registry.create_rule("strict", "mem*", threshold=50.0, severity="critical")
    d = registry.create_detector("mem_rss", "zscore", 3.0)
    warm(registry, d, clock)
    clock.advance(10)
    assert registry.detect(d, 70.0).severity == "info"


def test_on_detect_filters_by_severity_and_survives_a_failing_callback(
    registry, clock, caplog
) -> None:
    registry.create_rule("crit", "svc_*", threshold=20.0, severity="critical")
    got_all, got_critical = [], []
    registry.on_detect(got_all.append)
    registry.on_detect(got_critical.append, severity="critical")

    def broken(_):
        raise RuntimeError("remediation failed")

    registry.on_detect(broken)
    d = registry.create_detector("svc_latency", "zscore", 3.0)
    warm(registry, d, clock)
    with caplog.at_level(logging.ERROR, logger="constellation.anomaly"):
        clock.advance(10)
        registry.detect(d, 62.0, instance_id="a")  # ~6 sigma: info
        clock.advance(10)
        registry.detect(d, 900.0, instance_id="b")  # critical
        clock.advance(10)
        registry.detect(d, 950.0, instance_id="b")  # continuing: no new callback
    assert [a.instance_id for a in got_all] == ["a", "b"]
    assert [a.instance_id for a in got_critical] == ["b"]
    assert "remediation failed" in caplog.text


def test_on_detect_unsubscribe(registry) -> None:
    got = []
    stop = registry.on_detect(got.append)
    stop()
    registry.record("x", 1.0)
    assert got == []


def test_baseline_refreshes_on_the_injected_clock(registry, clock) -> None:
    d = registry.create_detector("rps", "zscore", 3.0, window=50)
    warm(registry, d, clock, n=40)
    first = d.baseline
    assert first is not None and 45 < first.expected < 55
    clock.advance(10)
    registry.detect(d, 51.0)
    assert d.baseline is first  # not due yet
    clock.advance(registry.baseline_interval_s)
    assert registry.refresh_baselines() == 1
    assert d.baseline is not first


def test_correlation_through_the_registry(registry, clock) -> None:
    d = registry.create_detector("cpu", "correlation", 4.0, paired_with="requests")
    rng = np.random.default_rng(3)
    for _ in range(200):
        clock.advance(10)
        req = float(rng.uniform(100, 1000))
        assert registry.detect(d, 0.05 * req + float(rng.normal(0, 1)), paired_value=req) is None
    clock.advance(10)
    found = registry.detect(d, 2.0, paired_value=900.0)
    assert found and found.type == "correlation"
    assert "no longer follows requests" in found.recommendation
    with pytest.raises(ValidationError, match="paired_value"):
        registry.detect(d, 2.0)


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"metric": "m", "method": "fourier"}, "method", "'zscore'"),
        ({"metric": "m", "method": "zscore", "sensitivity": 0}, "sensitivity", "expected > 0"),
        ({"metric": "m", "method": "zscore", "sensitivity": -1}, "sensitivity", "-1"),
        ({"metric": "m", "method": "mad", "colour": "red"}, "colour", "accepted: window"),
        ({"metric": "", "method": "zscore"}, "metric", "non-empty"),
        ({"metric": "m", "method": "threshold"}, "sensitivity", "limit"),
        ({"metric": "m", "method": "correlation"}, "paired_with", "other metric"),
    ],
)
def test_bad_detector_input_is_rejected_and_creates_nothing(registry, kwargs, field, text):
    with pytest.raises(ValidationError) as info:
        registry.create_detector(**kwargs)
    assert info.value.field == field
    assert text in str(info.value)
    assert registry.detectors() == []


def test_unknown_method_error_lists_every_method(registry) -> None:
    with pytest.raises(ValidationError) as info:
        registry.create_detector("m", "prophet")
    for method in ("zscore", "iqr", "mad", "isolation_forest", "moving_average", "threshold"):
        assert repr(method) in str(info.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "7", None])
def test_bad_values_are_rejected_and_change_nothing(registry, clock, bad) -> None:
    d = registry.create_detector("m", "zscore", 3.0)
    warm(registry, d, clock, n=40)
    before = (d.points, registry.get_stats()["points_processed"], d.baseline)
    with pytest.raises(ValidationError) as info:
        registry.detect(d, bad)
    assert info.value.field == "value"
    assert (d.points, registry.get_stats()["points_processed"], d.baseline) == before


def test_repeated_and_slightly_late_timestamps_are_taken_in_arrival_order(registry) -> None:
    d = registry.create_detector("m", "pattern", 3.0)
    registry.detect(d, 1.0, timestamp=100.0)
    registry.detect(d, 2.0, timestamp=100.0)  # two instances in the same second
    registry.detect(d, 3.0, timestamp=70.0)  # 30 s late: within the 60 s tolerance
    assert d.points == 3 and d.last_timestamp == 100.0  # time never moves backwards
    registry.detect(d, 4.0, timestamp=101.0)
    assert d.points == 4 and d.last_timestamp == 101.0


def test_a_timestamp_later_than_the_tolerance_is_rejected_and_changes_nothing(registry) -> None:
    d = registry.create_detector("m", "zscore", 3.0)
    registry.detect(d, 1.0, timestamp=100.0)
    with pytest.raises(ValidationError, match="timestamp_tolerance_s=60") as info:
        registry.detect(d, 1.0, timestamp=39.0)
    assert info.value.field == "timestamp"
    assert d.points == 1 and d.last_timestamp == 100.0
    strict = AnomalyRegistry(timestamp_tolerance_s=0)
    d = strict.create_detector("m", "zscore", 3.0)
    strict.detect(d, 1.0, timestamp=100.0)
    strict.detect(d, 1.0, timestamp=100.0)  # a repeat is never late
    with pytest.raises(ValidationError, match="before the last point"):
        strict.detect(d, 1.0, timestamp=99.5)


def test_constant_series_raises_no_alarm(registry, clock) -> None:
    for method in ("zscore", "iqr", "mad", "moving_average", "rate_change", "ensemble"):
        d = registry.create_detector(f"const_{method}", method)
        for _ in range(200):
            clock.advance(10)
            assert registry.detect(d, 42.0) is None, method


def test_unknown_ids(registry) -> None:
    with pytest.raises(NotFoundError):
        registry.detect("det-missing", 1.0)
    with pytest.raises(NotFoundError):
        registry.resolve("an-missing")
    with pytest.raises(NotFoundError):
        registry.delete_rule("nope")
    d = registry.create_detector("m")
    registry.destroy_detector(d)
    with pytest.raises(NotFoundError):
        registry.detect(d, 1.0)


def test_bad_rules_and_records(registry) -> None:
    with pytest.raises(ValidationError, match="'info', 'warning', 'critical'"):
        registry.create_rule("r", "*", 1.0, severity="urgent")
    with pytest.raises(ValidationError, match="threshold"):
        registry.create_rule("r", "*", -1.0)
    with pytest.raises(ValidationError, match="type"):
        registry.record("m", 1.0, type="weird")
    with pytest.raises(ValidationError, match="confidence"):
        registry.record("m", 1.0, confidence=2.0)
    assert registry.rules() == [] and registry.get_active() == []


def test_registry_settings_are_validated(clock) -> None:
    with pytest.raises(ValidationError, match="auto_resolve_after"):
        AnomalyRegistry(clock=clock, auto_resolve_after=0)
    with pytest.raises(ValidationError, match="baseline_interval_s"):
        AnomalyRegistry(clock=clock, baseline_interval_s=0)


def test_every_method_runs_through_the_registry(registry, clock) -> None:
    rng = np.random.default_rng(4)
    for method in (
        "zscore",
        "iqr",
        "mad",
        "moving_average",
        "isolation_forest",
        "ensemble",
        "rate_change",
        "pattern",
    ):
        d = registry.create_detector(f"m_{method}", method)
        for v in rng.normal(10, 1, 300):
            clock.advance(60)
            registry.detect(d, float(v))
        clock.advance(60)
        assert registry.detect(d, 60.0), method
