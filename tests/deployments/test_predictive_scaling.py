"""Deployments of a predictive_scaling cluster scale by the platform's forecaster."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.deployments import (
    AutoscaleSpec,
    DeploymentValidationError,
    ReplicaContext,
    decide_replicas,
)
from constellation.platform import Constellation

from .._support import FakeClock

PERIOD = 120  # minutes: a daily-like cycle, shortened


def queue_depth(k: int) -> float:
    """Jobs waiting at minute ``k``: 25 +- 20, peaking at minute 30 of every cycle."""
    return 25.0 + 20.0 * math.sin(2 * math.pi * k / PERIOD)


AUTOSCALE = {
    "metric": "queue_depth",
    "target_per_instance": 10,
    "min_instances": 1,
    "max_instances": 5,
    "lead_time_s": 1800,
    "scale_up_cooldown_s": 0,
    "scale_down_cooldown_s": 600,
}


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "worker.py"
    path.write_text("import time\nwhile True:\n    time.sleep(1)\n")
    return path


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[Constellation, FakeClock]]:
    clock = FakeClock(1_800_000_000.0)
    with Constellation(tmp_path / "home", clock=clock, background=False) as p:
        yield p, clock


def test_a_deployment_scales_up_before_a_forecast_peak_and_down_after(
    platform: tuple[Constellation, FakeClock], script: Path
) -> None:
    p, clock = platform
    p.create_cluster({"name": "batch", "predictive_scaling": True})
    p.deployments.deploy(
        "worker", script=str(script), cluster="batch", instances=1, autoscale=AUTOSCALE
    )
    start = clock() - 1200 * 60  # ten cycles of history, one point a minute

    def record_until(k_end: int) -> None:
        for k in range(k_end + 1):
            t = start + 60 * k
            if t > last_recorded[0]:
                p.telemetry.record("queue_depth", queue_depth(k), t)
                last_recorded[0] = t
        clock.now = start + 60 * k_end

    last_recorded = [float("-inf")]
    record_until(1200)  # minute 0 of the cycle: 25 waiting, the peak 30 minutes away
    decision = p.deployment_scaler.tick()["worker"]
    # 25 waiting needs 3; the forecast of the peak (45 in 30 minutes) asks for 5 now
    assert decision.desired == 5 and decision.reason.startswith("forecast 45")
    assert p.deployments.get_deployment("worker").instances == 5
    assert p.deployments.get_deployment("worker").running == 5

    record_until(1230)  # at the peak: stays up
    assert p.deployment_scaler.tick()["worker"].desired == 5

    record_until(1275)  # 45 minutes after the peak: 11 waiting, falling
    after = p.deployment_scaler.tick()["worker"]
    assert after.desired == 2
    assert p.deployments.get_deployment("worker").instances == 2


def test_a_cluster_without_predictive_scaling_leaves_its_deployments_alone(
    platform: tuple[Constellation, FakeClock], script: Path
) -> None:
    p, clock = platform
    p.create_cluster({"name": "fixed"})
    with pytest.raises(DeploymentValidationError) as info:
        p.deployments.deploy("w", script=str(script), cluster="fixed", autoscale=AUTOSCALE)
    assert info.value.field == "autoscale" and "predictive_scaling" in str(info.value)
    assert p.deployments.list_deployments() == []  # nothing changed
    p.deployments.deploy("w", script=str(script), cluster="fixed", instances=1)
    p.telemetry.record("queue_depth", 500.0, clock())
    assert p.deployment_scaler.tick() == {}
    assert p.deployments.get_deployment("w").instances == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric": ""}, "autoscale.metric"),
        ({"target_per_instance": 0}, "autoscale.target_per_instance"),
        ({"min_instances": 6}, "autoscale.max_instances"),
        ({"max_instances": 5000}, "autoscale.max_instances"),
        ({"lead_time_s": "soon"}, "autoscale.lead_time_s"),
        ({"scale_down_cooldown_s": -1}, "autoscale.scale_down_cooldown_s"),
        ({"burst": 1}, "autoscale.burst"),
    ],
)
def test_a_bad_autoscale_spec_names_its_field(
    platform: tuple[Constellation, FakeClock], script: Path, change: dict[str, object], field: str
) -> None:
    p, _ = platform
    p.create_cluster({"name": "batch", "predictive_scaling": True})
    with pytest.raises(DeploymentValidationError) as info:
        p.deployments.deploy(
            "w", script=str(script), cluster="batch", autoscale={**AUTOSCALE, **change}
        )
    assert info.value.field == field
    assert p.deployments.list_deployments() == []


def test_autoscale_needs_a_cluster(platform: tuple[Constellation, FakeClock], script: Path) -> None:
    p, _ = platform
    with pytest.raises(DeploymentValidationError) as info:
        p.deployments.deploy("w", script=str(script), autoscale=AUTOSCALE)
    assert info.value.field == "autoscale"


SPEC = AutoscaleSpec("m", 10.0, min_instances=1, max_instances=8, scale_down_cooldown_s=300)


def test_decide_replicas_takes_the_larger_of_observed_and_forecast_within_bounds() -> None:
    assert decide_replicas(ReplicaContext(0.0, 2, SPEC, 31.0, 12.0)).desired == 4
    assert decide_replicas(ReplicaContext(0.0, 2, SPEC, 12.0, 31.0)).desired == 4
    assert decide_replicas(ReplicaContext(0.0, 2, SPEC, 0.0, None)).desired == 1  # min
    assert decide_replicas(ReplicaContext(0.0, 2, SPEC, 900.0, None)).desired == 8  # max
    assert decide_replicas(ReplicaContext(0.0, 3, SPEC, None, None)).desired == 3  # no data


def test_decide_replicas_waits_for_the_cooldown() -> None:
    held = decide_replicas(ReplicaContext(1100.0, 6, SPEC, 10.0, None, last_change=1000.0))
    assert held.desired == 6 and held.wanted == 1 and "cooling down" in held.reason
    later = decide_replicas(ReplicaContext(1300.0, 6, SPEC, 10.0, None, last_change=1000.0))
    assert later.desired == 1
