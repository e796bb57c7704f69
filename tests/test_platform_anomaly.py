"""Anomaly detection wired into the platform: default detectors on every function."""

from __future__ import annotations

import math
import time
from pathlib import Path

from constellation.platform import Constellation

HANDLERS = str(Path(__file__).resolve().parent / "fixtures" / "serverless" / "handlers.py")


def test_error_rate_anomaly_restarts_the_function_instances_and_is_stored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Constellation(home) as platform:
        registry = platform.anomaly
        sls = platform.serverless
        f = sls.create_function("fragile", "python", "always_fail", HANDLERS)
        restarted: list[str] = []

        def remediate(anomaly: object) -> None:
            for instance in sls.list_instances("fragile"):
                platform.restart_instance(instance.id)
                restarted.append(instance.id)

        registry.on_detect(remediate)
        first = sls.invoke_sync(f.id)
        for _ in range(4):
            sls.invoke_sync(f.id)
        platform.flush_metrics()
        active = registry.get_active()
        assert [a.metric_name for a in active] == ['function_error_rate{function="fragile"}']
        assert active[0].detected_value > 0.25
        assert restarted and restarted[0] == first.instance_id
        assert sls.invoke_sync(f.id).instance_id != first.instance_id
        anomaly_id = active[0].id
    with Constellation(home) as again:
        assert [a.id for a in again.anomaly.get_active()] == [anomaly_id]


def test_detectors_are_fed_off_the_invocation_path(tmp_path: Path) -> None:
    with Constellation(tmp_path / "home") as platform:
        registry = platform.anomaly
        f = platform.serverless.create_function("steady", "python", "noop", HANDLERS)
        for _ in range(20):
            platform.serverless.invoke_sync(f.id)
        platform.flush_metrics()
        metrics = {d.metric for d in registry.detectors()}
        assert 'function_duration_ms{function="steady"}' in metrics
        assert 'function_error_rate{function="steady"}' in metrics
        assert registry.get_active() == []


def test_a_burst_reaches_the_default_detectors_as_one_point_per_second(tmp_path: Path) -> None:
    with Constellation(tmp_path / "home") as platform:
        registry = platform.anomaly
        f = platform.serverless.create_function("busy", "python", "noop", HANDLERS)
        started = time.monotonic()
        for _ in range(60):
            platform.serverless.invoke_sync(f.id)
        elapsed = time.monotonic() - started
        platform.flush_metrics()
        [duration] = [d for d in registry.detectors() if d.metric.startswith("function_duration")]
        # one point per 1 s window (DETECTOR_WINDOW_S), not one per invocation
        assert 1 <= duration.points <= math.ceil(elapsed) + 1, (duration.points, elapsed)
