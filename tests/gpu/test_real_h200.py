"""A real H200 (tests/fixtures/gpu/real, saved by benchmarks/gpu_check.py on a lent GPU
machine): the three NVIDIA paths read the same GPU, and NVML's memory matches
nvidia-smi's, which leaves out the 616 MiB the driver reserves."""

from __future__ import annotations

import pytest

from constellation.gpu import Discovery, Gpu, GpuManager
from constellation.gpu._nvidia_smi import NvidiaSmiBackend
from constellation.gpu._nvml import NvmlBackend

from .conftest import FIXTURES, Fakes

REAL = FIXTURES / "real"
UUID = "GPU-760725a0-f4e3-489d-9a5f-3b2d33d082fe"


def _read(fakes: Fakes, path: str) -> Gpu:
    fakes.serve("nvidia-smi", REAL / "nvidia-smi-q-x.xml" if path == "xml" else REAL)
    fakes.nvml(REAL)
    if path == "nvml":
        with NvmlBackend() as nvml:
            [gpu] = nvml.discover()
    elif path == "xml":
        [gpu] = NvidiaSmiBackend(10.0).discover()
    else:
        [gpu] = NvidiaSmiBackend(10.0)._discover_csv()
    return gpu


@pytest.mark.parametrize("path", ["nvml", "xml", "csv"])
def test_each_path_reads_the_real_h200(fakes: Fakes, path: str) -> None:
    gpu = _read(fakes, path)
    assert (gpu.id, gpu.uuid, gpu.name, gpu.pci_bus_id) == (
        "nvidia:0",
        UUID,
        "NVIDIA H200",
        "00000000:00:06.0",
    )
    assert (gpu.memory_total, gpu.memory_used, gpu.compute_capability) == (143771, 0, 9.0)
    assert (gpu.mig_enabled, gpu.mig_devices, gpu.power_limit) == (False, (), 700.0)
    assert gpu.utilization == 0.0
    assert gpu.driver_version == "580.159.04"


def test_nvml_without_memory_v2_counts_the_reservation_as_used(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PYNVML_NO_V2", "1")
    gpu = _read(fakes, "nvml")
    assert gpu.memory_used == 616  # v1, as the NVML backend read it before v2 (nvml.json: 615)


def test_an_allocation_on_the_real_h200_names_it_by_uuid(fakes: Fakes) -> None:
    fakes.nvml(REAL)
    with GpuManager(discovery=Discovery([NvmlBackend()])) as manager:
        allocation = manager.allocate(
            "trainer", {"sharing": "mps", "compute_share": 50, "memory_mb": 4096}
        )
        assert allocation is not None
        assert allocation.env["CUDA_VISIBLE_DEVICES"] == UUID
        assert allocation.env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "50"
        too_big = manager.explain(sharing="mps", compute_share=10, memory_mb=140000)
        assert not too_big.fits
        assert "less than 140000 MB uncommitted" in str(too_big)
