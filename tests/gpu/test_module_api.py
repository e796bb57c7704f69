"""The seed's module-level API (gpu.discover, gpu.allocate, ...) on a default manager."""

from __future__ import annotations

from pathlib import Path

import constellation.gpu as gpu
from constellation.telemetry import Telemetry

from .conftest import XML


def test_module_level_seed_flow(fakes, tmp_home: Path) -> None:
    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    try:
        telemetry = Telemetry()
        gpu.init(telemetry=telemetry, interval_s=60)
        assert gpu.is_running()
        [g] = gpu.discover()
        assert (g.id, g.name, g.memory_total, g.utilization, g.temperature) == (
            "nvidia:0",
            "Tesla T4",
            15360,
            0.0,
            40.0,
        )
        assert gpu.get_info("nvidia:0").uuid == "GPU-d37e67a5-91dd-3774-a5cb-99096249601a"
        request = {
            "gpu_count": 1,
            "memory_mb": 4096,
            "exclusive": False,
            "min_compute_capability": 7.0,
        }
        assert gpu.can_allocate(request)
        alloc = gpu.allocate("ml-worker-1", request)
        assert alloc is not None and gpu.get_allocation("ml-worker-1") == alloc
        assert gpu.get_utilization(alloc.gpu_id) == 0.0
        stats = gpu.get_stats()
        assert stats["allocations"] == 1 and stats["monitor"]["running"]
        assert gpu.deallocate("ml-worker-1")
        assert (tmp_home / "constellation.db").is_file()
    finally:
        gpu.shutdown()
        gpu.shutdown()
    assert not gpu.is_running()


def test_the_seed_example_runs_on_a_capture(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            str(root / "examples" / "iguana" / "gpu_support.py"),
            "--simulate",
            str(XML / "tesla-t4.xml"),
            "--samples",
            "1",
        ],
        env={**os.environ, "CONSTELLATION_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Found 1 GPU(s)\nGPU nvidia:0: Tesla T4\n  Memory: 15360 MB" in result.stdout
    assert "✅ GPU allocated: GPU nvidia:0" in result.stdout
    assert "CUDA_VISIBLE_DEVICES=GPU-d37e67a5-91dd-3774-a5cb-99096249601a" in result.stdout
