"""Escalation: an incident whose severity rises reaches the callbacks of its new severity."""

from __future__ import annotations

import random

from constellation.anomaly import Anomaly, AnomalyRegistry
from tests._support import FakeClock


def test_warning_to_critical_to_resolved(registry: AnomalyRegistry, clock: FakeClock) -> None:
    registry.create_rule("slow", "latency*", threshold=4.0, severity="warning")
    registry.create_rule("very_slow", "latency*", threshold=20.0, severity="critical")
    heard: dict[str, list[tuple[str, str]]] = {"all": [], "critical": []}
    registry.on_detect(lambda a: heard["all"].append((a.id, a.severity)))
    registry.on_detect(lambda a: heard["critical"].append((a.id, a.severity)), "critical")
    d = registry.create_detector("latency_ms", "zscore", 3.0)
    rng = random.Random(1)
    for _ in range(200):  # normal: mean 100, uniform noise (sd about 2.9), never 3 sigma out
        clock.advance(10)
        assert registry.detect(d, 100 + rng.uniform(-5, 5)) is None

    clock.advance(10)
    warning = registry.detect(d, 140.0)  # about 14 sigma: the warning rule
    assert warning is not None and warning.severity == "warning"
    assert heard == {"all": [(warning.id, "warning")], "critical": []}

    clock.advance(10)
    critical = registry.detect(d, 400.0)  # about 100 sigma: the same incident, now critical
    assert critical is not None and critical.id == warning.id
    assert critical.severity == "critical" and critical.details["escalated_from"] == "warning"
    assert heard["critical"] == [(warning.id, "critical")]  # fired once, for critical
    assert heard["all"] == [(warning.id, "warning")]  # told once already
    stats = registry.get_stats()
    assert stats["by_severity"]["critical"] == 1 and stats["anomalies_escalated"] == 1
    assert stats["anomalies_detected"] == 1

    for value in (420.0, 150.0):  # still critical, then back to warning level: no new events
        clock.advance(10)
        assert registry.detect(d, value) is not None
    assert len(heard["critical"]) == 1 and len(heard["all"]) == 1
    assert registry.get_stats()["by_severity"]["critical"] == 1

    for _ in range(registry.auto_resolve_after):
        clock.advance(10)
        registry.detect(d, 100 + rng.uniform(-1, 1))
    resolved = warning  # the record itself (no store: resolved ones are not kept)
    assert resolved.resolved_at == clock.now and resolved.severity == "critical"
    assert registry.get_active() == []
    assert registry.get_stats()["anomalies_resolved"] == 1


def test_an_escalated_anomaly_reaches_remediation_once_per_callback(
    registry: AnomalyRegistry, clock: FakeClock
) -> None:
    registry.create_rule("info", "cpu", threshold=0.0, severity="info")
    registry.create_rule("warn", "cpu", threshold=10.0, severity="warning")
    registry.create_rule("crit", "cpu", threshold=50.0, severity="critical")
    seen: list[Anomaly] = []
    registry.on_detect(seen.append, "warning")
    d = registry.create_detector("cpu", "threshold", 1.0)
    for value in (3.0, 20.0, 30.0, 80.0, 90.0):  # info -> warning -> critical
        clock.advance(1)
        registry.detect(d, value)
    assert [a.severity for a in seen] == ["critical"]  # the same object, told at warning
    assert len(seen) == 1
    stats = registry.get_stats()
    assert stats["anomalies_escalated"] == 2
    assert stats["by_severity"] == {"info": 1, "warning": 1, "critical": 1}
