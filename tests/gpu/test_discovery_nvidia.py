"""nvidia-smi discovery on real captures, through fake nvidia-smi executables on PATH."""

from __future__ import annotations

import pytest

from constellation.gpu import Discovery

from .conftest import H100_MIG, H200_MIG, L40S, XML, Fakes


def by_backend(discovery: Discovery) -> dict[str, str]:
    return {r.backend: r.status for r in discovery.reports}


def test_xml_a100_with_mig_devices(fakes: Fakes, discovery: Discovery) -> None:
    fakes.serve("nvidia-smi", XML / "a100-sxm4-v12.xml")
    [gpu] = discovery.discover()
    assert (gpu.id, gpu.name, gpu.backend) == (
        "nvidia:0",
        "NVIDIA A100-SXM4-80GB",
        "nvidia-smi (xml)",
    )
    assert (gpu.memory_total, gpu.memory_used, gpu.memory_free) == (81920, 50, 80999)
    assert gpu.utilization is None  # the XML says N/A under MIG
    assert (gpu.temperature, gpu.power_draw, gpu.power_limit) == (27.0, 67.03, 500.0)
    assert gpu.compute_capability == 8.0
    assert gpu.mig_enabled
    assert [(m.profile, m.memory_mb, m.gpu_instance_id) for m in gpu.mig_devices] == [
        ("1g.20gb", 19968, 3),
        ("1g.20gb", 19968, 4),
        ("1g.20gb", 19968, 5),
        ("1g.20gb", 19968, 6),
    ]
    assert by_backend(discovery)["nvml"] == "unavailable"
    assert by_backend(discovery)["nvidia-smi"] == "ok"


def test_xml_v13_two_gpus_keep_their_order_and_processes(
    fakes: Fakes, discovery: Discovery
) -> None:
    fakes.serve("nvidia-smi", XML / "dual_a5000-v13.xml")
    gpus = discovery.discover()
    assert [g.id for g in gpus] == ["nvidia:0", "nvidia:1"]
    assert [g.uuid for g in gpus] == [
        "GPU-12345678-aaaa-bbbb-cccc-0123456789ab",
        "GPU-12345678-aaaa-bbbb-cccc-0123456789cd",
    ]
    assert [g.power_draw for g in gpus] == [6.52, 13.59]  # v13: instant_power_draw
    assert [g.power_limit for g in gpus] == [230.0, 230.0]
    assert [(p.pid, p.memory_mb) for p in gpus[0].processes] == [(100477, 22430)]


def test_xml_processes_and_cut_down_schema(fakes: Fakes, discovery: Discovery) -> None:
    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    [t4] = discovery.discover()
    assert [(p.pid, p.memory_mb, p.name) for p in t4.processes] == [
        (675, 22, "/usr/lib/xorg/Xorg"),
        (5762, 1005, "python"),
    ]
    assert t4.compute_capability == 7.5
    fakes.serve("nvidia-smi", XML / "gtx-1070-ti.xml")
    [gtx] = discovery.discover()
    assert (gtx.name, gtx.memory_total, gtx.power_draw, gtx.power_limit) == (
        "GeForce GTX 1070 Ti",
        4096,
        None,
        None,
    )


def test_csv_fallback_when_xml_is_not_answered(fakes: Fakes, discovery: Discovery) -> None:
    fakes.serve("nvidia-smi", H100_MIG)  # an exporter capture: it has CSV, not -q -x
    [gpu] = discovery.discover()
    assert gpu.backend == "nvidia-smi (csv)"
    report = next(r for r in discovery.reports if r.backend == "nvidia-smi")
    assert "fell back to csv" in report.detail
    assert (gpu.name, gpu.memory_total, gpu.compute_capability) == (
        "NVIDIA H100 80GB HBM3",
        81559,
        9.0,
    )
    assert gpu.utilization is None  # [N/A] under MIG
    assert [(m.profile, m.memory_mb, m.uuid) for m in gpu.mig_devices] == [
        ("3g.40gb", 40448, "MIG-00000000-0000-0000-0000-000000000000"),
        ("2g.20gb", 20096, "MIG-00000001-0000-0000-0000-000000000001"),
        ("1g.10gb", 9984, "MIG-00000002-0000-0000-0000-000000000002"),
        ("1g.10gb", 9984, "MIG-00000003-0000-0000-0000-000000000003"),
    ]


@pytest.mark.parametrize(
    ("capture", "state", "util", "pids"),
    [
        (L40S, "load", 9.0, [20037, 20038]),
        (H100_MIG, "load", None, [21180, 21181, 21198]),
        (L40S, "idle", 100.0, []),
    ],
)
def test_csv_states(fakes: Fakes, discovery: Discovery, capture, state, util, pids) -> None:
    fakes.serve("nvidia-smi", capture)
    fakes.state(state)
    [gpu] = discovery.discover()
    assert gpu.utilization == util
    assert [p.pid for p in gpu.processes] == pids


def test_h200_mig_slice_with_unmasked_uuid(fakes: Fakes, discovery: Discovery) -> None:
    fakes.serve("nvidia-smi", H200_MIG)
    [gpu] = discovery.discover()
    assert gpu.memory_total == 143771
    assert [(m.profile, m.uuid) for m in gpu.mig_devices] == [
        ("3g.71gb", "MIG-f165f0ad-bde2-5b72-acdf-73bbf48eeb2c")
    ]
