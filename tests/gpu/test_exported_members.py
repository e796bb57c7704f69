"""The public names of constellation.gpu, frozen (like httpx's test_exported_members)."""

import constellation.gpu as gpu


def test_all_exports() -> None:
    assert gpu.__all__ == [
        "MIG_TABLES",
        "PLACEMENTS",
        "SHARING_MODES",
        "Allocation",
        "BackendError",
        "BackendReport",
        "Discovery",
        "Explanation",
        "Gpu",
        "GpuError",
        "GpuManager",
        "GpuMonitor",
        "GpuProcess",
        "GpuRequest",
        "GpuSample",
        "MigDevice",
        "MigProfile",
        "MpsDaemon",
        "MpsUnavailable",
        "ParseError",
        "StaticBackend",
        "ToolFailed",
        "ToolMissing",
        "ToolTimeout",
        "UnknownGpu",
        "allocate",
        "apply_layout",
        "can_allocate",
        "deallocate",
        "discover",
        "explain",
        "get_allocation",
        "get_info",
        "get_stats",
        "get_utilization",
        "init",
        "is_running",
        "load_capture",
        "plan_layout",
        "set_manager",
        "shutdown",
    ]
    for name in gpu.__all__:
        assert hasattr(gpu, name), name
