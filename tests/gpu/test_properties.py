"""Allocation invariants under random requests and releases (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constellation.gpu import Discovery, GpuManager, GpuRequest, StaticBackend, load_capture
from constellation.gpu._catalog import mig_table_for

from .conftest import AMD_SMI_GPU_DATA, H100_MIG, XML

# A mixed inventory from real captures: 2 A5000, 1 T4, 1 H100 in MIG mode, 2 AMD R9700.
INVENTORY = (
    load_capture(XML / "dual_a5000-v13.xml")
    + [g.with_(index=2) for g in load_capture(XML / "tesla-t4.xml")]
    + [g.with_(index=3) for g in load_capture(H100_MIG)]
    + load_capture(AMD_SMI_GPU_DATA)
)

requests = st.one_of(
    st.builds(GpuRequest, gpu_count=st.integers(1, 3), exclusive=st.just(True)),
    st.builds(GpuRequest, gpu_count=st.integers(1, 2), memory_mb=st.integers(1, 30000)),
    st.builds(
        GpuRequest,
        memory_mb=st.integers(1, 20000),
        compute_share=st.integers(1, 100),
    ),
    st.builds(GpuRequest, sharing=st.just("time_slice"), replicas=st.integers(2, 4)),
    st.builds(
        GpuRequest, mig_profile=st.sampled_from(["1g.10gb", "2g.20gb", "3g.40gb", "1g.20gb"])
    ),
    st.builds(
        GpuRequest, memory_mb=st.integers(1, 9000), vendor=st.sampled_from(["nvidia", "amd"])
    ),
)
steps = st.lists(st.tuples(st.booleans(), requests, st.integers(0, 15)), min_size=1, max_size=40)


def check_invariants(manager: GpuManager) -> None:
    allocator = manager._alloc()
    by_gpu: dict[str, list] = {}
    for allocation in manager.allocations():
        for gpu_id in allocation.gpu_ids:
            by_gpu.setdefault(gpu_id, []).append(allocation)
    for pos, gpu in enumerate(allocator.gpus):
        tenants = by_gpu.get(gpu.id, [])
        # no GPU's memory is ever over-committed
        assert allocator.committed[pos] <= (gpu.memory_total or 0) or not tenants
        whole = [a for a in tenants if a.sharing != "mig"]
        assert sum(a.memory_mb for a in whole if a.sharing != "exclusive") <= (
            gpu.memory_total or 0
        )
        # exclusive GPUs are never shared
        if any(a.sharing == "exclusive" for a in tenants):
            assert len(tenants) == 1
        # one sharing mode per GPU; MPS shares within 100 %; time slices within their slots
        assert len({a.sharing for a in tenants}) <= 1
        assert sum(a.request.compute_share or 0 for a in tenants) <= 100
        slices = [a for a in tenants if a.sharing == "time_slice"]
        assert all(len(slices) <= a.request.replicas for a in slices)
        # MIG slices never exceed the profile's instance limit, nor the devices that exist
        migs = [a for a in tenants if a.sharing == "mig"]
        assert len({a.mig_device for a in migs}) == len(migs)
        table = mig_table_for(gpu.name, gpu.memory_total)
        for profile in {a.mig_profile for a in migs}:
            assert table is not None and profile is not None
            assert sum(a.mig_profile == profile for a in migs) <= table[1][profile].max_instances


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_invariants_hold_and_deallocate_restores_the_exact_state(script) -> None:
    with GpuManager(discovery=Discovery([StaticBackend(INVENTORY)])) as manager:
        live: list[str] = []
        for n, (release, request, pick) in enumerate(script):
            if release and live:
                owner = live.pop(pick % len(live))
                assert manager.deallocate(owner)
            else:
                before = manager._alloc().snapshot()
                owner = f"o{n}"
                allocation = manager.allocate(owner, request)
                if allocation is None:
                    assert manager._alloc().snapshot() == before  # a refusal changes nothing
                    assert manager.explain(request).reasons
                    continue
                live.append(owner)
                check_invariants(manager)
                # deallocate restores the exact previous state, then re-grant the same
                manager.deallocate(owner)
                assert manager._alloc().snapshot() == before
                assert manager.allocate(owner, request) is not None
            check_invariants(manager)
        for owner in live:
            manager.deallocate(owner)
        assert manager._alloc().committed.sum() == 0
        assert manager._alloc().tenants.sum() == 0
