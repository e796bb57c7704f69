"""AMD and Intel discovery on real captures and documented examples, through fake tools."""

from __future__ import annotations

import pytest

from constellation.gpu import Discovery

from .conftest import AMD_SMI_GPU_DATA, AMD_SMI_LIST, ROCM, XPU, Fakes


def test_rocm_smi_mi100(fakes: Fakes, discovery: Discovery) -> None:
    fakes.serve("rocm-smi", ROCM / "mi100_rocm602.json")
    gpus = discovery.discover()
    assert [g.id for g in gpus] == ["amd:0", "amd:1", "amd:2", "amd:3"]
    first = gpus[0]
    assert first.name == "Arcturus GL-XL [Instinct MI100]"
    assert (first.memory_total, first.memory_used) == (32752, 6)  # 34342961152 B, 6750208 B
    assert (first.utilization, first.temperature, first.power_draw, first.power_limit) == (
        0.0,
        53.0,
        36.0,
        290.0,
    )
    assert first.uuid == "0x79ccd55167a2124a"
    assert first.pci_bus_id == "0000:83:00.0"
    assert first.driver_version == "6.3.6"
    statuses = {r.backend: r.status for r in discovery.reports}
    assert statuses["amd-smi"] == "failed" and statuses["rocm-smi"] == "ok"


@pytest.mark.parametrize(
    ("capture", "name", "total"),
    [
        ("rx6700xt_rocm612.json", "Navi 22 [Radeon RX 6700/6700 XT / 6800M]", 12272),
        ("vega-20-WKS-GL-XE.json", "Radeon Instinct MI50 32GB", 32752),
    ],
)
def test_rocm_smi_key_spellings(fakes: Fakes, discovery: Discovery, capture, name, total) -> None:
    fakes.serve("rocm-smi", ROCM / capture)
    [gpu] = discovery.discover()
    assert (gpu.name, gpu.memory_total) == (name, total)


@pytest.mark.parametrize("capture", [AMD_SMI_GPU_DATA, AMD_SMI_LIST], ids=["gpu_data", "list"])
def test_amd_smi_both_json_shapes(fakes: Fakes, discovery: Discovery, capture) -> None:
    fakes.serve("amd-smi", capture)
    fakes.serve("rocm-smi", ROCM / "mi100_rocm602.json")  # skipped: amd-smi answered first
    gpus = discovery.discover()
    assert [g.id for g in gpus] == ["amd:0", "amd:1"]
    g = gpus[0]
    assert (g.name, g.memory_total, g.memory_used, g.memory_free) == (
        "AMD Radeon AI PRO R9700",
        32624,
        29777,
        2847,
    )
    assert (g.utilization, g.temperature, g.power_draw, g.power_limit) == (
        100.0,
        79.0,
        103.0,
        300.0,
    )
    assert g.pci_bus_id == "0000:03:00.0"
    # process --json reports bytes: 21008920000 B is 20035.6 MiB, kept as 20035
    assert [(p.pid, p.memory_mb) for p in g.processes] == [
        (213534, 0),
        (213890, 0),
        (213952, 20035),
        (213953, 19553),
    ]
    statuses = {r.backend: r.status for r in discovery.reports}
    assert statuses["rocm-smi"] == "skipped"


def test_xpu_smi_from_the_user_guide(fakes: Fakes, discovery: Discovery) -> None:
    fakes.serve("xpu-smi", XPU)
    [gpu] = discovery.discover()
    assert (gpu.id, gpu.name, gpu.uuid) == (
        "intel:0",
        "Intel(R) Graphics [0x020a]",
        "00000000-0000-0000-0000-020a00008086",
    )
    assert (gpu.memory_total, gpu.memory_used, gpu.memory_free) == (32768, 24, 32744)
    assert (gpu.utilization, gpu.temperature, gpu.power_draw) == (0.0, 41.0, 15.0)
    assert gpu.pci_bus_id == "0000:4d:00.0"


def test_vendors_merge_into_one_inventory(fakes: Fakes, discovery: Discovery) -> None:
    from .conftest import XML

    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    fakes.serve("rocm-smi", ROCM / "vega-20-WKS-GL-XE.json")
    fakes.serve("xpu-smi", XPU)
    assert [g.id for g in discovery.discover()] == ["nvidia:0", "amd:0", "intel:0"]
    assert discovery.get("amd:0").name == "Radeon Instinct MI50 32GB"
    assert discovery.get("GPU-d37e67a5-91dd-3774-a5cb-99096249601a").id == "nvidia:0"
    assert discovery.get(0).id == "nvidia:0"
