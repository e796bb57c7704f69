"""The seed's anomaly checks, as real tests against the module-level API."""

from __future__ import annotations

import numpy as np

from constellation import anomaly


def warm(detector, clock, n: int = 60, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for v in rng.normal(120.0, 5.0, n):
        clock.advance(10)
        assert not anomaly.detect(detector, float(v))


def test_init_and_is_running(default_registry) -> None:
    anomaly.init()
    assert anomaly.is_running()
    anomaly.init()  # idempotent
    assert anomaly.is_running()


def test_create_detector_keyword_and_positional(default_registry) -> None:
    d = anomaly.create_detector(metric="response_time", method="zscore", sensitivity=3.0)
    assert (d.metric, d.method, d.sensitivity) == ("response_time", "zscore", 3.0)
    e = anomaly.create_detector("auth_errors", "threshold", 0.05)
    assert e.method == "threshold" and e.type == "threshold"


def test_detect_spike_and_normal_value(default_registry, clock) -> None:
    d = anomaly.create_detector(metric="response_time", method="zscore", sensitivity=3.0)
    warm(d, clock)
    clock.advance(10)
    assert anomaly.detect(d, 121.0) is None
    clock.advance(10)
    found = anomaly.detect(d, 400.0, instance_id="i-7")
    assert found
    assert found.metric_name == "response_time"
    assert found.detected_value == 400.0
    assert 110 < found.expected_value < 130
    assert found.expected_low < found.expected_value < found.expected_high
    assert 0.99 < found.confidence <= 1.0
    assert found.instance_id == "i-7"
    assert "response_time" in found.recommendation and "i-7" in found.recommendation


def test_record_get_active_and_resolve(default_registry, clock) -> None:
    a = anomaly.record(
        metric_name="disk_used",
        detected_value=97.0,
        expected_value=60.0,
        severity="critical",
        type="threshold",
        instance_id="i-1",
    )
    assert [x.id for x in anomaly.get_active()] == [a.id]
    clock.advance(30)
    done = anomaly.resolve(a.id)
    assert done.resolved_at == clock.now
    assert anomaly.get_active() == []


def test_create_rule_and_detect_spike_pattern(default_registry, clock) -> None:
    rule = anomaly.create_rule(
        name="high_latency", pattern="*_latency", threshold=3.0, severity="critical"
    )
    assert rule.severity == "critical"
    d = anomaly.create_detector("api_latency", "zscore", 3.0)
    warm(d, clock)
    clock.advance(10)
    found = anomaly.detect(d, 500.0)
    assert found and found.severity == "critical"


def test_stats_destroy_and_shutdown(default_registry, clock) -> None:
    anomaly.init()
    d = anomaly.create_detector("response_time", "mad", 3.5)
    warm(d, clock, n=30)
    clock.advance(10)
    anomaly.detect(d, 900.0)
    stats = anomaly.get_stats()
    assert stats["detectors"] == 1
    assert stats["points_processed"] == 31
    assert stats["anomalies_detected"] == 1
    anomaly.destroy_detector(d)
    assert anomaly.get_stats()["detectors"] == 0
    anomaly.shutdown()
    assert not default_registry.is_running()
