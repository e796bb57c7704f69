"""The NVML backend against a fake pynvml built from the same captures as the CSV path."""

from __future__ import annotations

import sys

import pytest

from constellation.gpu import Discovery, ToolMissing
from constellation.gpu._nvidia_smi import NvidiaSmiBackend
from constellation.gpu._nvml import NvmlBackend

from .conftest import H100_MIG, H200_MIG, L40S, Fakes, backends


def test_nvml_reads_mig_devices_and_says_none_for_mig_utilization(fakes: Fakes) -> None:
    fakes.nvml(H100_MIG)
    with NvmlBackend() as nvml:
        [gpu] = nvml.discover()
    assert (gpu.id, gpu.backend, gpu.memory_total, gpu.compute_capability) == (
        "nvidia:0",
        "nvml",
        81559,
        9.0,
    )
    assert gpu.utilization is None
    assert (gpu.temperature, gpu.power_draw, gpu.power_limit) == (42.0, 71.15, 700.0)
    assert [(m.profile, m.memory_mb, m.gpu_instance_id) for m in gpu.mig_devices] == [
        ("3g.40gb", 40448, 2),
        ("2g.20gb", 20096, 3),
        ("1g.10gb", 9984, 9),
        ("1g.10gb", 9984, 10),
    ]
    assert gpu.pci_bus_id == "00000000:00:09.0"


@pytest.mark.parametrize(
    ("capture", "state"),
    [(H100_MIG, "idle"), (H100_MIG, "load"), (H200_MIG, "idle"), (L40S, "idle"), (L40S, "load")],
)
def test_nvml_and_nvidia_smi_agree(fakes: Fakes, capture, state) -> None:
    fakes.nvml(capture)
    fakes.serve("nvidia-smi", capture)
    fakes.state(state)
    with NvmlBackend() as nvml:
        [a] = nvml.discover()
    [b] = NvidiaSmiBackend().discover()
    for field in (
        "uuid",
        "name",
        "memory_total",
        "memory_used",
        "utilization",
        "temperature",
        "compute_capability",
        "mig_enabled",
        "pci_bus_id",
    ):
        assert getattr(a, field) == getattr(b, field), field
    assert a.power_draw == pytest.approx(b.power_draw)
    assert [(m.uuid, m.profile) for m in a.mig_devices] == [
        (m.uuid, m.profile) for m in b.mig_devices
    ]
    assert [(p.pid, p.memory_mb) for p in a.processes] == [
        (p.pid, p.memory_mb) for p in b.processes
    ]


def test_nvml_answering_skips_nvidia_smi(fakes: Fakes) -> None:
    fakes.nvml(L40S)
    fakes.serve("nvidia-smi", L40S)
    d = Discovery(backends())
    [gpu] = d.discover()
    assert gpu.backend == "nvml"
    assert {r.backend: r.status for r in d.reports}["nvidia-smi"] == "skipped"
    d.close()


def test_sample_is_cheap_and_fresh(fakes: Fakes) -> None:
    fakes.nvml(L40S)
    fakes.state("load")
    with NvmlBackend() as nvml:
        assert nvml.device_count == 1
        reading = nvml.sample(0)
    assert reading == {
        "utilization": 9.0,
        "memory_used": 1235.0,
        "temperature": 54.0,
        "power_draw": 110.23,
    }


def test_close_is_idempotent_and_shuts_nvml_down_once(fakes: Fakes) -> None:
    fakes.nvml(L40S)
    nvml = NvmlBackend()
    nvml.discover()
    fake = sys.modules["pynvml"]
    before = fake.calls.get("shutdown", 0)
    nvml.close()
    nvml.close()
    assert fake.calls["shutdown"] == before + 1
    nvml.discover()  # reopens on use
    nvml.close()


def test_no_library_is_unavailable(fakes: Fakes) -> None:
    with pytest.raises(ToolMissing, match="NVML Shared Library Not Found"):
        NvmlBackend().discover()


def test_a_process_list_nvml_refuses_is_a_note_not_a_failure(fakes: Fakes, monkeypatch) -> None:
    fakes.nvml(L40S)
    fakes.state("load")
    monkeypatch.setenv("FAKE_PYNVML_NO_PERMISSION", "1")
    d = Discovery(backends())
    [gpu] = d.discover()
    assert gpu.processes == () and gpu.utilization == 9.0
    assert d.reports[0].detail == "1 GPU(s) (processes: Insufficient Permissions)"
    d.close()
