"""Monitoring: readings into telemetry with an injected clock; the loop starts and stops."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from constellation.errors import ValidationError
from constellation.gpu import Discovery, GpuManager, GpuMonitor
from constellation.gpu._monitor import read_gpu
from constellation.telemetry import Telemetry

from .conftest import L40S, XML, backends


def test_tick_records_each_reading_at_the_injected_time(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "tesla-t4.xml")
    telemetry = Telemetry()
    monitor = GpuMonitor(manager, telemetry, interval_s=1.0, clock=lambda: 1000.0)
    [sample] = monitor.tick()
    assert sample.timestamp == 1000.0
    labels = {"gpu": "nvidia:0"}
    assert telemetry.series("gpu_utilization_percent", labels).last().value == 0.0
    assert telemetry.series("gpu_memory_used_mb", labels).last().value == 1032.0
    assert telemetry.series("gpu_temperature_celsius", labels).last().value == 40.0
    assert telemetry.series("gpu_power_watts", labels).last().value == 26.78
    monitor.tick(now=1001.0)
    assert [p.timestamp for p in telemetry.series("gpu_power_watts", labels)] == [1000.0, 1001.0]


def test_mig_utilization_is_skipped_not_zero(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "a100-sxm4-v12.xml")
    telemetry = Telemetry()
    GpuMonitor(manager, telemetry).tick(now=5.0)
    assert telemetry.find("gpu_utilization_percent") == []
    assert len(telemetry.find("gpu_temperature_celsius")) == 1


def test_per_allocation_usage_from_the_process_list(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "tesla-t4.xml")
    manager.allocate("trainer", memory_mb=2048)
    manager.attach_process("trainer", 5762)  # the capture's python process, 1005 MiB
    telemetry = Telemetry()
    GpuMonitor(manager, telemetry).tick(now=7.0)
    assert telemetry.series("gpu_allocation_memory_mb", {"owner": "trainer"}).last().value == 1005.0


def test_nvml_samples_through_nvml(fakes) -> None:
    fakes.nvml(L40S)
    fakes.state("load")
    manager = GpuManager(discovery=Discovery(backends()))
    assert read_gpu(manager, "nvidia:0").utilization == 9.0
    telemetry = Telemetry()
    GpuMonitor(manager, telemetry).tick(now=1.0)
    assert telemetry.series("gpu_power_watts", {"gpu": "nvidia:0"}).last().value == 110.23
    manager.close()


def test_nvml_usage_per_allocation_reads_the_process_list_at_each_tick(
    fakes,
) -> None:
    """NVML samples carry no processes: the monitor must ask NVML for them at each tick,
    not reuse the list from the first discovery (made before the process started)."""
    fakes.nvml(L40S)
    manager = GpuManager(discovery=Discovery(backends()))
    manager.allocate("trainer", memory_mb=4096)
    manager.attach_process("trainer", 4321)
    telemetry = Telemetry()
    monitor = GpuMonitor(manager, telemetry)
    monitor.tick(now=1.0)
    series = telemetry.series("gpu_allocation_memory_mb", {"owner": "trainer"})
    assert series.last().value == 0.0
    import pynvml  # the fake, first on sys.path

    pynvml._devices[0].processes = [SimpleNamespace(pid=4321, usedGpuMemory=3000 * 1024 * 1024)]
    monitor.tick(now=2.0)
    assert series.last().value == 3000.0
    manager.close()


def test_the_loop_runs_until_stopped(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "gtx-1070-ti.xml")
    telemetry = Telemetry()
    two = threading.Event()
    telemetry.subscribe(lambda series, point: two.set() if len(series) >= 2 else None)
    with GpuMonitor(manager, telemetry, interval_s=0.01) as monitor:
        monitor.start()
        assert monitor.running
        assert two.wait(timeout=60)
    assert not monitor.running
    monitor.stop()  # idempotent


def test_bad_interval() -> None:
    with pytest.raises(ValidationError, match="interval_s: 0 is out of range"):
        GpuMonitor(GpuManager(discovery=Discovery([])), Telemetry(), interval_s=0)
