"""Allocation on real captures: the seed's checks, sharing modes, MIG, env, persistence."""

from __future__ import annotations

import pytest

from constellation.errors import ConflictError, ValidationError
from constellation.gpu import Discovery, GpuManager, StaticBackend, load_capture
from constellation.store import Store

from .conftest import AMD_SMI_GPU_DATA, H100_MIG, ROCM, XML, XPU, backends

SEED_REQUEST = {
    "gpu_count": 1,
    "memory_mb": 4096,
    "exclusive": False,
    "min_compute_capability": 7.0,
}


def test_seed_gpu_checks_on_a_capture(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "dual_a5000-v13.xml")  # GPU init
    gpus = manager.discover()  # GPU discovery
    assert len(gpus) == 2
    info = manager.discovery.get(gpus[0].id)  # get GPU info
    assert info.name == "NVIDIA RTX A5000"
    assert info.memory_total and info.memory_total > 0  # GPU has valid memory
    assert manager.can_allocate(SEED_REQUEST)  # allocation feasibility
    alloc = manager.allocate("ml-worker-1", SEED_REQUEST)  # allocate
    assert alloc is not None and alloc.gpu_id == "nvidia:0"
    assert alloc.env["CUDA_VISIBLE_DEVICES"] == "GPU-12345678-aaaa-bbbb-cccc-0123456789ab"
    stats = manager.stats()  # stats
    assert (stats["gpus"], stats["allocations"], stats["memory_committed_mb"]) == (2, 1, 4096)
    assert manager.deallocate("ml-worker-1")  # deallocate
    assert manager.stats()["memory_committed_mb"] == 0
    manager.close()  # shutdown
    manager.close()


def test_more_gpus_than_exist_is_none_and_explained(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "tesla-t4.xml")
    assert manager.allocate("big", gpu_count=3, memory_mb=1024) is None
    why = manager.explain(gpu_count=3, memory_mb=1024)
    assert not why and "3 GPU(s) needed, 1 fit" in str(why)
    assert manager.allocations() == []


def test_explain_names_each_filter(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "dual_a5000-v13.xml")
    assert "2 of 2 GPU(s) are not amd" in str(manager.explain(vendor="amd"))
    assert "have compute capability below 9.0" in str(manager.explain(min_compute_capability=9.0))
    assert "have less than 30000 MB uncommitted" in str(manager.explain(memory_mb=30000))
    manager.allocate("a", exclusive=True)
    manager.allocate("b", exclusive=True)
    assert "are taken in a mode that excludes 'shared'" in str(manager.explain(memory_mb=10))
    assert str(manager.explain(memory_mb=10)).startswith("does not fit: ")


def test_no_gpus_explains_the_backends(fakes, store) -> None:
    manager = GpuManager(store, Discovery(backends()))
    assert manager.allocate("x", memory_mb=1) is None
    assert "no GPUs were discovered (nvml: unavailable" in str(manager.explain(memory_mb=1))


def test_exclusive_is_alone_and_shared_packs_by_memory(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "tesla-t4.xml")  # 15360 MB
    a = manager.allocate("a", memory_mb=8000)
    b = manager.allocate("b", memory_mb=7000)
    assert a and b and a.gpu_id == b.gpu_id == "nvidia:0"
    assert manager.allocate("c", memory_mb=1000) is None  # 360 MB left
    assert manager.allocate("d", exclusive=True) is None
    manager.deallocate("a")
    manager.deallocate("b")
    assert manager.allocate("d", exclusive=True) is not None
    assert manager.allocate("e", memory_mb=1) is None


def test_mps_shares_sum_to_at_most_100_and_set_the_env(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "tesla-t4.xml")
    first = manager.allocate("a", compute_share=60, memory_mb=4096)
    assert first is not None and first.sharing == "mps"
    assert first.env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "60"
    assert first.env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=4096M"
    assert manager.allocate("b", compute_share=50, memory_mb=1024) is None
    assert manager.allocate("c", compute_share=40, memory_mb=1024) is not None
    assert manager.allocate("d", memory_mb=10) is None  # shared cannot join an MPS GPU


def test_time_slice_takes_one_of_n_slots(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "tesla-t4.xml")
    for n in range(3):
        assert manager.allocate(f"r{n}", sharing="time_slice", replicas=3) is not None
    assert manager.allocate("r3", sharing="time_slice", replicas=3) is None
    assert manager.allocate("other", sharing="time_slice", replicas=4) is None
    manager.deallocate("r0")
    assert manager.allocate("r3", sharing="time_slice", replicas=3) is not None


def test_mig_slices_come_from_the_discovered_devices(manager_for) -> None:
    manager = manager_for("nvidia-smi", H100_MIG)
    assert manager.allocate("whole", memory_mb=1) is None  # a MIG GPU serves MIG requests only
    assert "in MIG mode" in str(manager.explain(memory_mb=1))
    one = manager.allocate("one", mig_profile="1g.10gb")
    two = manager.allocate("two", mig_profile="1g.10gb")
    assert one and two and one.mig_profile == "1g.10gb" and one.memory_mb == 9984
    assert one.env["CUDA_VISIBLE_DEVICES"] == "MIG-00000002-0000-0000-0000-000000000002"
    assert two.env["NVIDIA_VISIBLE_DEVICES"] == "MIG-00000003-0000-0000-0000-000000000003"
    assert manager.allocate("three", mig_profile="1g.10gb") is None
    assert "has no free 1g.10gb device" in str(manager.explain(mig_profile="1g.10gb"))
    assert manager.allocate("big", mig_profile="3g.40gb") is not None
    assert manager.allocate("x", mig_profile="7g.80gb") is None


def test_mig_without_uuids_uses_the_gi_form(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "a100-sxm4-v12.xml")
    alloc = manager.allocate("m", mig_profile="1g.20gb")
    assert alloc is not None
    assert alloc.env["CUDA_VISIBLE_DEVICES"] == "MIG-GPU-513536b6-7d19-9063-b049-1e69664bb298/3/0"
    assert "(A100-80GB) has no profile 1g.5gb" in str(manager.explain(mig_profile="1g.5gb"))


def test_amd_and_intel_env(manager_for) -> None:
    amd = manager_for("amd-smi", AMD_SMI_GPU_DATA)
    alloc = amd.allocate("hip", gpu_count=2, memory_mb=1024)
    assert alloc is not None
    assert alloc.env["ROCR_VISIBLE_DEVICES"] == "0,1"
    assert alloc.env["HIP_VISIBLE_DEVICES"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in alloc.env
    intel = GpuManager(Store(":memory:"), Discovery([StaticBackend(load_capture(XPU))]))
    xe = intel.allocate("xe", vendor="intel", memory_mb=512)
    assert xe is not None and xe.env["ZE_AFFINITY_MASK"] == "0"
    intel.close()


def test_a_multi_gpu_request_stays_within_one_vendor() -> None:
    gpus = load_capture(XML / "tesla-t4.xml") + load_capture(ROCM / "vega-20-WKS-GL-XE.json")
    with GpuManager(discovery=Discovery([StaticBackend(gpus)])) as manager:
        assert manager.allocate("two", gpu_count=2, memory_mb=10) is None
        assert manager.allocate("one", gpu_count=1, memory_mb=10) is not None


def test_binpack_fills_one_gpu_and_spread_uses_both(fakes, store) -> None:
    fakes.serve("nvidia-smi", XML / "dual_a5000-v13.xml")
    packed = GpuManager(store, Discovery(backends()), placement="binpack")
    ids = [packed.allocate(f"p{i}", memory_mb=1000).gpu_id for i in range(3)]
    assert ids == ["nvidia:0", "nvidia:0", "nvidia:0"]
    for i in range(3):
        packed.deallocate(f"p{i}")
    spread = GpuManager(store, Discovery(backends()), placement="spread")
    ids = [spread.allocate(f"s{i}", memory_mb=1000).gpu_id for i in range(3)]
    assert ids == ["nvidia:0", "nvidia:1", "nvidia:0"]
    with pytest.raises(ValidationError, match="placement: 'random' is not allowed"):
        GpuManager(store, placement="random")


def test_allocations_survive_a_restart(fakes, tmp_path) -> None:
    fakes.serve("nvidia-smi", H100_MIG)
    path = tmp_path / "state.db"
    with Store(path) as store:
        first = GpuManager(store, Discovery(backends()))
        made = first.allocate("keep", mig_profile="2g.20gb")
        first.attach_process("keep", 4242)
    with Store(path) as store:
        again = GpuManager(store, Discovery(backends()))
        kept = again.get_allocation("keep")
        assert kept is not None and kept.env == made.env and kept.pids == (4242,)
        assert again.allocate("other", mig_profile="2g.20gb") is None  # still taken
        assert again.deallocate("keep")
    with Store(path) as store:
        assert GpuManager(store, Discovery(backends())).allocations() == []


def test_an_allocation_whose_gpu_is_gone_is_orphaned(fakes, tmp_path) -> None:
    path = tmp_path / "state.db"
    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    with Store(path) as store:
        GpuManager(store, Discovery(backends())).allocate("old", memory_mb=100)
    fakes.serve("nvidia-smi", XML / "gtx-1070-ti.xml")
    with Store(path) as store:
        manager = GpuManager(store, Discovery(backends()))
        assert "old" in manager.stats()["orphaned"]
        with pytest.raises(ConflictError):
            manager.allocate("old", memory_mb=1)
        assert manager.deallocate("old") and manager.stats()["orphaned"] == {}


def test_bad_input_changes_nothing(manager_for) -> None:
    manager = manager_for("nvidia-smi", XML / "tesla-t4.xml")
    manager.allocate("a", memory_mb=100)
    before = manager.stats()
    for bad in ({"memory_mb": 0}, {"mig_profile": "2g.2tb"}, {"compute_share": 0, "memory_mb": 1}):
        with pytest.raises(ValidationError):
            manager.allocate("b", bad)
    with pytest.raises(ValidationError, match="owner"):
        manager.allocate("", memory_mb=1)
    with pytest.raises(ConflictError, match="already holds"):
        manager.allocate("a", memory_mb=1)
    assert manager.stats() == before
    assert manager.deallocate("nobody") is False


def test_two_processes_sharing_the_store_do_not_double_book(fakes, tmp_path) -> None:
    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    path = tmp_path / "shared.db"
    with Store(path) as server_store, Store(path) as cli_store:  # two connections, as two processes
        server = GpuManager(server_store, Discovery(backends()))
        cli = GpuManager(cli_store, Discovery(backends()))
        assert server.can_allocate(exclusive=True) and cli.can_allocate(exclusive=True)
        assert cli.allocate("from-cli", exclusive=True) is not None
        assert server.allocate("from-server", exclusive=True) is None  # sees the CLI's grant
        assert "taken in a mode that excludes 'exclusive'" in str(server.explain(exclusive=True))
        with pytest.raises(ConflictError):
            server.allocate("from-cli", memory_mb=1)
        assert server.deallocate("from-cli")
        assert cli.get_allocation("from-cli") is None
        assert cli.allocate("again", exclusive=True) is not None


def test_mixed_vendors_that_fit_only_together_are_explained() -> None:
    gpus = load_capture(XML / "tesla-t4.xml") + load_capture(ROCM / "vega-20-WKS-GL-XE.json")
    with GpuManager(discovery=Discovery([StaticBackend(gpus)])) as manager:
        why = str(manager.explain(gpu_count=2, memory_mb=10))
        assert "2 GPU(s) needed, 2 fit" in why and "of different vendors" in why


def test_discovery_timeout_is_validated() -> None:
    with pytest.raises(ValidationError, match="timeout: 0 is out of range; expected > 0 seconds"):
        Discovery(timeout=0)
